"""A search as people type it, made into an FTS5 query that nothing typed can break.

Plain words and "quoted phrases"; every one must be found (AND), anywhere in a line, case
aside, also inside a longer word (``noen`` finds ``ENOENT``). Each becomes an FTS5 string (its
quotes doubled), so FTS5's operators (``AND``, ``NEAR(``, ``*``, ``-``, ``:``) are only text.
The index is of trigrams: a word of one or two characters cannot be looked up in it, so such
words only narrow what the longer ones found; a search of short words alone is refused.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from backend.errors import InvalidQuery

MAX_QUERY_CHARS = 1000
MAX_TERMS = 16
MIN_INDEXED = 3  # characters: a trigram
_TERM = re.compile(r'"([^"]*)"?|(\S+)')


@dataclass(frozen=True, slots=True)
class Query:
    """``match``: the FTS5 expression; ``narrow``: short terms (lower case) a hit's text must
    also hold; ``terms``: every term, for highlighting."""

    match: str
    narrow: tuple[str, ...]
    terms: tuple[str, ...]


def _clean(text: str) -> str:
    """Control characters (NUL included) are not searchable text: each becomes a space."""
    return "".join(" " if unicodedata.category(c) == "Cc" else c for c in text)


def parse(text: str) -> Query:
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidQuery(f"a search is at most {MAX_QUERY_CHARS} characters")
    terms: list[str] = []
    for match in _TERM.finditer(_clean(text)):
        term = " ".join((match.group(1) if match.group(1) is not None else match.group(2)).split())
        if term and term.casefold() not in (t.casefold() for t in terms):
            terms.append(term)
    if len(terms) > MAX_TERMS:
        raise InvalidQuery(f"a search has at most {MAX_TERMS} words and phrases")
    long = [term for term in terms if len(term) >= MIN_INDEXED]
    if not long:
        raise InvalidQuery(
            f"nothing to search for: give a word or phrase of {MIN_INDEXED} characters or more"
        )
    return Query(
        match=" AND ".join('"' + term.replace('"', '""') + '"' for term in long),
        narrow=tuple(term.casefold() for term in terms if len(term) < MIN_INDEXED),
        terms=tuple(terms),
    )

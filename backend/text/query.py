"""A search as people type it, made into an FTS5 query that nothing typed can break.

Plain words and "quoted phrases"; every one must be found (AND), anywhere in the text, case
aside, also inside a longer word (``noen`` finds ``ENOENT``). Each becomes an FTS5 string (its
quotes doubled), so FTS5's operators (``AND``, ``NEAR(``, ``*``, ``-``, ``:``) are only text.

The index is of trigrams: only a run of three characters or more can be looked up in it. A word
or phrase without such a run (``a``, ``ok``, ``"a b"``) only narrows what the others found, and a
search without any is refused. Words are separated by ASCII spaces and control characters (NUL
included), which are never searched for; ``SEARCHABLE`` says the same as a pattern (the API's
schema has it, so that what the schema calls valid is exactly what is taken).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from backend.errors import InvalidQuery
from backend.protocol.api import SEARCHABLE_PATTERN

MAX_QUERY_CHARS = 1000
# Separators: ASCII controls and space, and C1 controls. A run of three other characters (not
# a quote either) is what makes a search searchable.
_SEPARATOR = "\x00-\x20\x7f-\x9f"
SEARCHABLE = re.compile(SEARCHABLE_PATTERN)  # a run of three: [^<separators>"]{3}
_TERM = re.compile(f'"([^"]*)"?|([^{_SEPARATOR}"]+)')
_SPACES = re.compile(f"[{_SEPARATOR}]+")


@dataclass(frozen=True, slots=True)
class Query:
    """``match``: the FTS5 expression; ``narrow``: terms without a run of three (lower case)
    a hit's text must also hold; ``terms``: every term, for highlighting."""

    match: str
    narrow: tuple[str, ...]
    terms: tuple[str, ...]


def parse(text: str) -> Query:
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidQuery(f"a search is at most {MAX_QUERY_CHARS} characters")
    terms: list[str] = []
    for match in _TERM.finditer(text):
        raw = match.group(1) if match.group(1) is not None else match.group(2)
        term = _SPACES.sub(" ", raw).strip(" ")
        if term and term.casefold() not in (t.casefold() for t in terms):
            terms.append(term)
    indexed = [term for term in terms if SEARCHABLE.search(term)]
    if not indexed:
        raise InvalidQuery(
            "nothing to search for: give a word or phrase with three characters in a row"
        )
    return Query(
        match=" AND ".join('"' + term.replace('"', '""') + '"' for term in indexed),
        narrow=tuple(term.casefold() for term in terms if not SEARCHABLE.search(term)),
        terms=tuple(terms),
    )

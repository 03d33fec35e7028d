"""A search as people type it, made into an FTS5 query that nothing typed can break.

Plain words and "quoted phrases"; every one must be found (AND), anywhere in the text, case
aside, also inside a longer word (``noen`` finds ``ENOENT``).

The index holds which trigrams (runs of three characters) each text has, not where
(``detail=none``: see docs/architecture.md, "Search"). A term is looked up as the AND of its
trigrams, each an FTS5 string (its quotes doubled), so FTS5's operators (``AND``, ``NEAR(``,
``*``, ``-``, ``:``) are only text; what the index finds is a candidate, and the term itself
must then be in the candidate's text (``needles``, checked by the reader). A word or phrase
without a run of three (``a``, ``ok``, ``"a b"``) has no trigram: it is only checked, and a
search without any term that has one is refused. Words are separated by ASCII spaces and
control characters (NUL included), which are never searched for; ``SEARCHABLE`` says the same
as a pattern (the API's schema has it, so that what the schema calls valid is exactly what is
taken).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from backend.errors import InvalidQuery
from backend.protocol.api import SEARCHABLE_PATTERN

MAX_QUERY_CHARS = 1000
# A long term is looked up by this many of its trigrams at most, spread over it: each one
# more is a list of rows to intersect, and the check of the term itself is exact anyway.
MAX_TRIGRAMS = 12
# Separators: ASCII controls and space, and C1 controls. A run of three other characters (not
# a quote either) is what makes a search searchable.
_SEPARATOR = "\x00-\x20\x7f-\x9f"
SEARCHABLE = re.compile(SEARCHABLE_PATTERN)  # a run of three: [^<separators>"]{3}
_TERM = re.compile(f'"([^"]*)"?|([^{_SEPARATOR}"]+)')
_SPACES = re.compile(f"[{_SEPARATOR}]+")


@dataclass(frozen=True, slots=True)
class Query:
    """``match``: the FTS5 expression that finds candidates; ``needles``: every term, lower
    case, that a hit's text must hold; ``terms``: every term as typed, for highlighting."""

    match: str
    needles: tuple[str, ...]
    terms: tuple[str, ...]


def parse(text: str) -> Query:
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidQuery(f"a search is at most {MAX_QUERY_CHARS} characters")
    terms: list[str] = []
    for match in _TERM.finditer(text):
        raw = match.group(1) if match.group(1) is not None else match.group(2)
        term = _SPACES.sub(" ", raw).strip(" ")
        if term and term.lower() not in (t.lower() for t in terms):
            terms.append(term)
    grams = [gram for term in terms if SEARCHABLE.search(term) for gram in trigrams(term)]
    if not grams:
        raise InvalidQuery(
            "nothing to search for: give a word or phrase with three characters in a row"
        )
    return Query(
        match=" AND ".join('"' + gram.replace('"', '""') + '"' for gram in dict.fromkeys(grams)),
        needles=tuple(term.lower() for term in terms),
        terms=tuple(terms),
    )


def trigrams(term: str) -> list[str]:
    """The trigrams a term is looked up by: its distinct runs of three, at most MAX_TRIGRAMS
    of them, spread from its start to its end. As typed: FTS5 folds their case itself, and a
    lower-cased run can be four characters ("İ" is two in lower case), which FTS5 would read
    as two trigrams, a phrase that an index without positions refuses."""
    distinct: dict[str, str] = {}  # the first of each, case aside
    for i in range(len(term) - 2):
        distinct.setdefault(term[i : i + 3].casefold(), term[i : i + 3])
    grams = list(distinct.values())
    if len(grams) > MAX_TRIGRAMS:
        step = (len(grams) - 1) / (MAX_TRIGRAMS - 1)
        grams = [grams[round(i * step)] for i in range(MAX_TRIGRAMS)]
    return grams

"""The built-in answerer: the most relevant sentences and steps of what was retrieved.

Offline and deterministic. Every sentence it uses comes from a retrieved
passage, and only the passages it uses are cited.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from portal.chat.retrieval import Source
from portal.kb.services import Passage, is_table_row

MAX_SENTENCES = 4
MAX_SOURCES = 2
# A procedure longer than this is shown as the steps around the one that matched.
MAX_STEPS = 8
HEADING_WEIGHT = 0.5
# A second article joins the answer only when retrieval ranked it nearly as high as the
# first (ranker score units; the top article leads by ~1.6-3 on answered dev questions):
# it then answers the same need rather than a neighbouring one.
SECOND_ARTICLE_MARGIN = 1.0
# A sentence giving what the question asks for (a duration, a price, a count, a yes or no)
# outranks one that only shares its words.
ASKED_FOR_WEIGHT = 2.0
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


@dataclass(frozen=True)
class Citation:
    number: int
    slug: str
    title: str
    heading: str
    url: str

    def as_dict(self) -> dict[str, object]:
        return {"n": self.number, "slug": self.slug, "title": self.title,
                "heading": self.heading, "url": self.url}


@dataclass(frozen=True)
class Composed:
    text: str
    citations: list[Citation]


_WORD = re.compile(r"\w[\w'-]*\w|\w", re.UNICODE)
_FILLER = frozenset(
    "a an and are as at be by can do does for from how i if in is it my of on or the this to "
    "what when where which who why will with you your".split()
)


def terms(text: str) -> set[str]:
    """Content words, crudely stemmed, for matching sentences to the question."""
    found = set()
    for word in _WORD.findall(text.lower()):
        if word in _FILLER:
            continue
        for suffix in ("ing", "es", "s", "ed"):
            if len(word) > 4 and word.endswith(suffix):
                word = word[: -len(suffix)]
                break
        found.add(word)
    return found


@dataclass(frozen=True)
class _Unit:
    text: str
    # Which list of its passage a list item belongs to (None for a sentence of prose).
    list_number: int | None = None


def _units(text: str) -> list[_Unit]:
    """Sentences of prose; list items (steps) stay whole and know their list."""
    out: list[_Unit] = []
    lists = 0
    in_list = False
    for line in text.split("\n"):
        line = line.strip()
        if not line:
            continue
        if is_table_row(line):
            # A table row flattened to text ("Member   Yes   No") reads as nonsense alone.
            in_list = False
            continue
        if line.startswith("- "):
            if not in_list:
                lists, in_list = lists + 1, True
            out.append(_Unit(line[2:], lists))
        else:
            in_list = False
            out.extend(_Unit(s.strip()) for s in _SENTENCE.split(line) if len(s.split()) >= 3)
    return out


@dataclass(frozen=True)
class _Candidate:
    score: float
    source_rank: int
    passage_rank: int
    unit_index: int
    unit: _Unit


_DURATION_QUESTION = re.compile(
    r"\bhow (long|soon|quickly|fast)\b|\bwhen (will|does|do|can|should)\b"
    r"|\bhow many (days|weeks|hours|minutes|months|years)\b", re.I)
_PRICE_QUESTION = re.compile(r"\bhow much\b|\b(cost|costs|price|prices|fee|fees|charge)\b",
                             re.I)
_COUNT_QUESTION = re.compile(r"\bhow many\b|\bwhat (is|'s) the (limit|maximum|minimum)\b",
                             re.I)
_YES_NO_QUESTION = re.compile(r"^\W*(is|are|can|could|does|do|will|would|should|am)\b", re.I)
_DURATION = re.compile(
    r"\b\d+(?:[.,]\d+)?(?:\s*(?:-|–|to)\s*\d+)?\s*(?:business |working )?"
    r"(?:minutes?|mins?|hours?|days?|weeks?|months?|years?)\b|\b(?:a|one|two|three) "
    r"(?:minute|hour|day|week|month|year)s?\b", re.I)
_PRICE = re.compile(r"[£$€]\s?\d|\d\s?(?:£|€|usd|eur|gbp)\b|\bfree\b|\bno charge\b", re.I)
_COUNT = re.compile(r"\b\d+\b|\b(one|two|three|four|five|six|seven|eight|nine|ten)\b", re.I)
_YES_NO = re.compile(r"^(yes|no)\b|\b(can|can't|cannot|does|doesn't|is|isn't|will|won't)\b",
                     re.I)


def asked_for(question: str) -> re.Pattern[str] | None:
    """What kind of fact the question asks for, as a pattern that finds it in a sentence."""
    subject = question.strip().split("\n")[0]
    if _DURATION_QUESTION.search(subject):
        return _DURATION
    if _PRICE_QUESTION.search(subject):
        return _PRICE
    if _COUNT_QUESTION.search(subject):
        return _COUNT
    if _YES_NO_QUESTION.match(subject):
        return _YES_NO
    return None


def compose(question: str, sources: list[Source]) -> Composed:
    query_terms = terms(question)
    wanted = asked_for(question)
    candidates: list[_Candidate] = []
    units_of: dict[tuple[int, int], list[_Unit]] = {}
    usable = sources[:1] + [s for s in sources[1:MAX_SOURCES]
                            if s.score >= sources[0].score - SECOND_ARTICLE_MARGIN]
    if sources and not any(_units(p.text) for p in sources[0].passages[:3]):
        # Nothing quotable in the top article (only a table): the next one answers.
        usable = sources[:MAX_SOURCES]
    for source_rank, source in enumerate(usable):
        for passage_rank, passage in enumerate(source.passages[:3]):
            units = units_of[(source_rank, passage_rank)] = _units(passage.text)
            # A section headed with the question's words ("Pair the hub") is about it, even
            # where its steps ("Plug in the Hub…") repeat few of them. An article's opening
            # is "headed" with its title, which says nothing about which part answers.
            heading = 0.0 if passage.heading == passage.title else HEADING_WEIGHT * len(
                query_terms & terms(passage.heading))
            for unit_index, unit in enumerate(units):
                overlap = len(query_terms & terms(unit.text))
                gives = ASKED_FOR_WEIGHT if wanted and overlap and wanted.search(unit.text) \
                    else 0.0
                score = (overlap + heading + gives - 0.8 * source_rank - 0.3 * passage_rank
                         - 0.05 * unit_index)
                candidates.append(_Candidate(score, source_rank, passage_rank, unit_index, unit))
    if not candidates:
        return Composed("", [])
    ranked = sorted(candidates, key=lambda c: c.score, reverse=True)
    # A step of the top article's procedure: answer with the procedure.
    if ranked[0].unit.list_number is not None and ranked[0].source_rank == 0:
        return _procedure(ranked[0], units_of[(ranked[0].source_rank, ranked[0].passage_rank)],
                          usable)
    best = ranked[:MAX_SENTENCES]
    # The top article is always the first citation: it is what retrieval trusted most.
    top = next((c for c in ranked if c.source_rank == 0), None)
    if top is not None and all(c.source_rank != 0 for c in best):
        best = [top, *best[: MAX_SENTENCES - 1]]
    # The sentence giving the asked-for fact leads; the rest keep the article's order.
    lead = ranked[0] if wanted and wanted.search(ranked[0].unit.text) else None
    best.sort(key=lambda c: (c is not lead, c.source_rank, c.passage_rank, c.unit_index))
    numbers: dict[tuple[int, int], int] = {}
    citations: list[Citation] = []
    lines: list[str] = []
    for candidate in best:
        key = (candidate.source_rank, candidate.passage_rank)
        if key not in numbers:
            numbers[key] = len(citations) + 1
            citations.append(_citation(numbers[key], usable[key[0]].passages[key[1]]))
        lines.append(f"{candidate.unit.text} [{numbers[key]}]")
    return Composed("\n".join(lines), citations)


def _procedure(match: _Candidate, units: list[_Unit], sources: list[Source]) -> Composed:
    """The whole list the best-matching step belongs to, in order, under one citation.

    One step out of a procedure ("3. Open the email…") leaves the customer without the
    steps before it; the list is what the article says to do.
    """
    steps = [i for i, u in enumerate(units) if u.list_number == match.unit.list_number]
    start = 0
    if len(steps) > MAX_STEPS:
        start = max(0, min(steps.index(match.unit_index) - 2, len(steps) - MAX_STEPS))
    # Steps keep their own numbers, so a cut list still reads as steps 4 to 11.
    lines = [f"{n}. {units[i].text}"
             for n, i in enumerate(steps[start : start + MAX_STEPS], start=start + 1)]
    lines[-1] += " [1]"
    before = steps[0] - 1
    if start == 0 and before >= 0 and units[before].list_number is None:
        # The sentence that introduces the list ("To fix it, restart the agent:").
        lines.insert(0, units[before].text)
    passage = sources[match.source_rank].passages[match.passage_rank]
    return Composed("\n".join(lines), [_citation(1, passage)])


def _citation(number: int, passage: Passage) -> Citation:
    return Citation(number, passage.slug, passage.title, passage.heading, passage.url)


def stream_words(text: str, words_per_piece: int = 4) -> Iterator[str]:
    """The composed answer in small pieces, as a generator would produce them."""
    tokens = re.split(r"(\s+)", text)
    for start in range(0, len(tokens), words_per_piece * 2):
        yield "".join(tokens[start : start + words_per_piece * 2])

"""The built-in answerer: the most relevant sentences and steps of what was retrieved.

Offline and deterministic. Every sentence it uses comes from a retrieved
passage, and only the passages it uses are cited.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from portal.chat.retrieval import Source

MAX_SENTENCES = 4
MAX_SOURCES = 2
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


def _units(text: str) -> list[str]:
    """Sentences of prose; list items (steps) stay whole."""
    out: list[str] = []
    for line in text.split("\n"):
        line = line.strip()
        if not line:
            continue
        if line.startswith("- "):
            out.append(line[2:])
        else:
            out.extend(s.strip() for s in _SENTENCE.split(line) if len(s.split()) >= 3)
    return out


def compose(question: str, sources: list[Source]) -> Composed:
    query_terms = terms(question)
    candidates: list[tuple[float, int, int, int, str]] = []
    for source_rank, source in enumerate(sources[:MAX_SOURCES]):
        for passage_rank, passage in enumerate(source.passages[:3]):
            for unit_index, unit in enumerate(_units(passage.text)):
                overlap = len(query_terms & terms(unit))
                score = overlap - 0.8 * source_rank - 0.3 * passage_rank - 0.05 * unit_index
                candidates.append((score, source_rank, passage_rank, unit_index, unit))
    if not candidates:
        return Composed("", [])
    best = sorted(candidates, key=lambda c: c[0], reverse=True)[:MAX_SENTENCES]
    # The top article is always the first citation: it is what retrieval trusted most.
    if all(c[1] != 0 for c in best):
        top = max((c for c in candidates if c[1] == 0), key=lambda c: c[0])
        best = [top, *best[: MAX_SENTENCES - 1]]
    best.sort(key=lambda c: (c[1], c[2], c[3]))
    numbers: dict[tuple[int, int], int] = {}
    citations: list[Citation] = []
    lines: list[str] = []
    for _, source_rank, passage_rank, _, unit in best:
        key = (source_rank, passage_rank)
        if key not in numbers:
            passage = sources[source_rank].passages[passage_rank]
            numbers[key] = len(citations) + 1
            citations.append(
                Citation(numbers[key], passage.slug, passage.title, passage.heading, passage.url)
            )
        lines.append(f"{unit} [{numbers[key]}]")
    return Composed("\n".join(lines), citations)


def stream_words(text: str, words_per_piece: int = 4) -> Iterator[str]:
    """The composed answer in small pieces, as a generator would produce them."""
    tokens = re.split(r"(\s+)", text)
    for start in range(0, len(tokens), words_per_piece * 2):
        yield "".join(tokens[start : start + words_per_piece * 2])

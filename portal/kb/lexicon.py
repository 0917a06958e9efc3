"""The words of a text as the KB's keyword side counts them: stop words, content words,
their stems, and Okapi BM25 over counted terms. Pure functions, shared by the chunk index's
reranking, the search box, the database fallback and the chat's text signals."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can cannot could did do does doing down during each few for
    from further had has have having he her here hers herself him himself his how i if in into
    is it its itself just let me more most my myself no nor not now of off on once only or other
    our ours ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    im i'm ive i've dont don't doesnt doesn't cant can't wont won't please thanks thank hi hello
    hey get got also still want need know tell way using use used like one would could us via
    anyone someone something anything help question problem issue trying try tried""".split()
)
_WORD = re.compile(r"[\w][\w.'/+-]*[\w]|[\w]", re.UNICODE)


# Sentences, and the lines of lists and tables that end without a full stop.
_SENTENCE_OR_LINE = re.compile(r"(?<=[.!?])\s+|\n")
# What MiniLM reads well: a run-on "sentence" of an imported article would cost as much to
# embed as the rest of the article.
SENTENCE_WORDS = 40


def sentence_pieces(texts: Iterable[str], *, min_words: int = 3,
                    max_words: int | None = SENTENCE_WORDS) -> list[str]:
    """The texts' sentences and lines of at least `min_words` words, in order, each cut to
    `max_words` words (None: whole), whitespace collapsed: what the embedding signals
    compare a message with, one sentence at a time."""
    return [" ".join(part.split()[:max_words]) for text in texts
            for part in _SENTENCE_OR_LINE.split(text) if len(part.split()) >= min_words]


def content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 1]


def stem(word: str) -> str:
    for suffix in ("ing", "es", "s", "ed"):
        if len(word) > 4 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def terms(text: str) -> list[str]:
    return [stem(w) for w in content_words(text)]


@dataclass
class Bm25:
    """Okapi BM25 over one field, normalised by the query's total idf (0..~2)."""

    idf: dict[str, float]
    average_length: float

    @classmethod
    def fit(cls, documents: Iterable[Counter[str]]) -> Bm25:
        frequencies: Counter[str] = Counter()
        total = count = 0
        for counts in documents:
            frequencies.update(counts.keys())
            total += sum(counts.values())
            count += 1
        idf = {w: math.log(1 + (count - df + 0.5) / (df + 0.5)) for w, df in frequencies.items()}
        return cls(idf, total / max(count, 1))

    def score(self, query_terms: set[str], counts: Counter[str],
              length: int | None = None) -> float:
        """`length` is the document's number of terms, when known (counting a whole
        article's terms was half of a question's reranking)."""
        return self.for_query(query_terms)(counts, length)

    def for_query(self, query_terms: set[str]) -> Bm25Query:
        """The scorer of one query over many documents: its terms' idf looked up once
        (a question's reranking scores ~120 chunks, articles and titles)."""
        weights = tuple((w, self.idf.get(w, 0.0)) for w in query_terms)
        return Bm25Query(weights, sum(idf for _, idf in weights) or 1.0, self.average_length)


@dataclass(frozen=True)
class Bm25Query:
    weights: tuple[tuple[str, float], ...]
    total_idf: float
    average_length: float

    def __call__(self, counts: Counter[str], length: int | None = None) -> float:
        k1, b = 1.2, 0.75
        if length is None:
            length = sum(counts.values())
        norm = k1 * (1 - b + b * length / max(self.average_length, 1.0))
        raw = sum(idf * counts[w] * (k1 + 1) / (counts[w] + norm)
                  for w, idf in self.weights if w in counts)
        return raw / self.total_idf

"""Spelling correction against the KB's own words, for the embedding model's sake.

Meilisearch forgives a typo in a keyword search, but an embedding of "degres" or
"recipt" lands far from "degrees" and "receipt", so a question with a typo was ranked
by meaning as if it were about something else. Each word the KB never uses is replaced
by the KB word closest to it, within the typo budget Meilisearch itself allows (one
edit from five letters, two from nine; a swap of two neighbouring letters is one edit),
the most frequent winning a tie. Words with no such neighbour are left as typed: a word
the KB does not use is not always a typo ("isnt", a product name).

Candidates come from a symmetric-delete index (every word with one or two letters
deleted points back to it), so a lookup costs a few dictionary reads however large the
vocabulary is, instead of an edit distance against every word.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

ONE_TYPO_MIN_LETTERS = 5
TWO_TYPOS_MIN_LETTERS = 9


def typo_budget(word: str) -> int:
    if len(word) >= TWO_TYPOS_MIN_LETTERS:
        return 2
    return 1 if len(word) >= ONE_TYPO_MIN_LETTERS else 0


def _deletes(word: str, depth: int) -> set[str]:
    found = {word}
    frontier = {word}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1:] for w in frontier for i in range(len(w))}
        found |= frontier
    return found


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions, swaps."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1,
                             previous[j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[len(b)]


class Speller:
    def __init__(self, frequencies: Counter[str]) -> None:
        self._frequencies = frequencies
        self._by_delete: dict[str, list[str]] = {}
        for word in frequencies:
            if not word.isalpha():
                continue
            # A word can be the correction of a typed word one letter shorter than itself.
            for variant in _deletes(word, typo_budget(word) or typo_budget(word + "x")):
                self._by_delete.setdefault(variant, []).append(word)

    def __contains__(self, word: str) -> bool:
        return word in self._frequencies

    def correction(self, word: str) -> str | None:
        """The KB word a typed word most likely meant, or None."""
        budget = typo_budget(word)
        if not budget or not word.isalpha() or word in self._frequencies:
            return None
        candidates = {c for variant in _deletes(word, budget)
                      for c in self._by_delete.get(variant, ())}
        best: tuple[int, int, str] | None = None
        for candidate in candidates:
            if abs(len(candidate) - len(word)) > budget:
                continue
            distance = edit_distance(word, candidate)
            if distance > budget:
                continue
            key = (distance, -self._frequencies[candidate], candidate)
            if best is None or key < best:
                best = key
        return best[2] if best else None

    def corrections(self, words: Iterable[str]) -> dict[str, str]:
        found = {}
        for word in words:
            fixed = self.correction(word)
            if fixed:
                found[word] = fixed
        return found

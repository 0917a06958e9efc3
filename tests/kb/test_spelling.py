"""Spelling correction against the KB's words: Meilisearch's typo budget, no guessing."""

from __future__ import annotations

from collections import Counter

import pytest

from portal.kb.spelling import Speller, edit_distance

WORDS = Counter({"degrees": 5, "decrees": 1, "receipt": 3, "thermostat": 9, "account": 4,
                 "notification": 3, "wireless": 2, "isn": 1, "e15": 2})


@pytest.mark.parametrize(("typed", "meant"), [
    ("degres", "degrees"),  # a letter missing; the more frequent of two neighbours wins
    ("recipt", "receipt"),
    ("acount", "account"),
    ("wirless", "wireless"),
    ("thermsotat", "thermostat"),  # two letters swapped count as one edit
    ("thermostt", "thermostat"),
    ("notificaton", "notification"),
])
def test_a_typo_becomes_the_kb_word_it_meant(typed: str, meant: str) -> None:
    assert Speller(WORDS).correction(typed) == meant


@pytest.mark.parametrize("typed", [
    "isnt",  # four letters: Meilisearch allows no typo there, nor do we
    "degrees",  # a KB word is never corrected
    "garage",  # nothing close: not every unknown word is a typo
    "e16",  # codes are not words
    "thrmstat",  # three edits from the nearest word
])
def test_words_without_a_close_kb_word_stay_as_typed(typed: str) -> None:
    assert Speller(WORDS).correction(typed) is None


def test_edit_distance_counts_a_swap_as_one_edit() -> None:
    assert edit_distance("ca", "ac") == 1
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3

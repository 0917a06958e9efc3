"""How reviewed answers correct the deflection rate: pure arithmetic, no database.

Definitions (shown on the dashboard and in docs/metrics.md):
- precision of assumed resolutions = reviewed assumed answers marked right ÷ reviewed
  assumed answers ("partly right" is not counted as right: a customer left with half an
  answer was not reliably helped);
- its 95% interval is the Wilson score interval, which stays inside [0, 1] and behaves
  with the handful of reviews a manager has time for;
- corrected deflection rate = (confirmed + assumed × precision) ÷ (confirmed + assumed +
  escalated), with the interval's ends put in place of the precision for its range.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

# The two-sided 95% normal quantile.
Z95 = 1.959963984540054


class Verdict(StrEnum):
    RIGHT = "right"
    PARTLY = "partly"
    WRONG = "wrong"

    @property
    def label(self) -> str:
        return {"right": "Right", "partly": "Partly right", "wrong": "Wrong"}[self.value]


class Stratum(StrEnum):
    """What a sampled conversation was when drawn: the strata sampled apart."""

    CONFIRMED = "confirmed"
    ASSUMED = "assumed"
    SUGGESTED = "suggested"


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


def wilson_interval(successes: int, trials: int, z: float = Z95) -> Interval | None:
    """The Wilson score interval for a binomial proportion (None without trials)."""
    if trials <= 0:
        return None
    if not 0 <= successes <= trials:
        raise ValueError(f"{successes} successes out of {trials} trials")
    share = successes / trials
    z2 = z * z
    scale = 1 + z2 / trials
    centre = (share + z2 / (2 * trials)) / scale
    half = z / scale * math.sqrt(share * (1 - share) / trials + z2 / (4 * trials * trials))
    return Interval(max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Tally:
    right: int = 0
    partly: int = 0
    wrong: int = 0

    @property
    def reviewed(self) -> int:
        return self.right + self.partly + self.wrong

    @property
    def precision(self) -> float | None:
        return self.right / self.reviewed if self.reviewed else None

    @property
    def interval(self) -> Interval | None:
        return wilson_interval(self.right, self.reviewed)

    def plus(self, verdict: str) -> Tally:
        return Tally(self.right + (verdict == Verdict.RIGHT),
                     self.partly + (verdict == Verdict.PARTLY),
                     self.wrong + (verdict == Verdict.WRONG))

    @classmethod
    def of(cls, verdicts: Iterable[str]) -> Tally:
        tally = cls()
        for verdict in verdicts:
            tally = tally.plus(verdict)
        return tally


@dataclass(frozen=True)
class Corrected:
    """The deflection rate with assumed resolutions weighed by their reviewed precision."""

    confirmed: int
    assumed: int
    escalated: int
    tally: Tally

    @property
    def denominator(self) -> int:
        return self.confirmed + self.assumed + self.escalated

    @property
    def raw_rate(self) -> float | None:
        d = self.denominator
        return (self.confirmed + self.assumed) / d if d else None

    def _rate_at(self, precision: float | None) -> float | None:
        if precision is None or not self.denominator:
            return None
        return (self.confirmed + self.assumed * precision) / self.denominator

    @property
    def rate(self) -> float | None:
        """None when no assumed resolution was reviewed: there is nothing to correct by."""
        return self._rate_at(self.tally.precision)

    @property
    def interval(self) -> Interval | None:
        bounds = self.tally.interval
        if bounds is None or not self.denominator:
            return None
        return Interval((self.confirmed + self.assumed * bounds.low) / self.denominator,
                        (self.confirmed + self.assumed * bounds.high) / self.denominator)


REVIEW_HELP: dict[str, str] = {
    "review_sample": "Bot answers from chats started in the last 30 days, drawn apart for each "
    "ending: confirmed (the customer said yes), assumed (counted as resolved without a word) "
    "and suggested (the bot offered its closest articles instead of answering). Each stratum "
    "is put in a fixed random order (a keyed 64-bit mix of the conversation number), and the page "
    "shows the first five not yet reviewed: the same data always gives the same sample, and "
    "each conversation is reviewed once.",
    "review_verdicts": "Right: the answer, with its cited sections, solves what was asked. "
    "Partly right: it helps but misses or gets part of it wrong. Wrong: it answers something "
    "else, or cites the wrong article.",
    "review_precision": "Of the reviewed chats that are assumed resolutions now, the share "
    "marked right (partly right does not count). The range is the 95% Wilson score interval.",
    "review_corrected": "(confirmed + assumed × reviewed precision) ÷ (confirmed + assumed + "
    "escalated); its range puts the interval's ends in place of the precision. Confirmed "
    "chats are taken at the customer's word.",
    "review_wrong": "Reviews marked wrong or partly right, by the article the answer cited "
    "and by category: where the KB or the bot needs work first.",
}

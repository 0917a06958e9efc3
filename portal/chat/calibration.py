"""The answer / suggest / hand-off thresholds and the decision model they apply to.

Defaults ship with the code (fitted by `portal eval --calibrate` on the shared dev sets).
An operator recalibrates for their own KB with `portal eval --calibrate FILE`, and puts the
file at `<INSTANCE_DIR>/chat_calibration.json` (this installation) or
`<CONTENT_DIR>/_chat_calibration.json` (kept in git with the KB). The first found wins;
`CHAT_CONFIDENCE_THRESHOLD` still overrides the answer threshold alone.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from flask import current_app

from portal.chat import flow, ranking

log = logging.getLogger(__name__)

INSTANCE_FILE = "chat_calibration.json"
CONTENT_FILE = "_chat_calibration.json"
DEFAULT_THRESHOLDS = flow.Thresholds(answer=ranking.DEFAULT_THRESHOLD,
                                     suggest=ranking.DEFAULT_SUGGEST_THRESHOLD)


@dataclass(frozen=True)
class Calibration:
    thresholds: flow.Thresholds
    model: ranking.DecisionModel
    source: str = "built-in"

    def as_json(self) -> dict[str, Any]:
        return {"thresholds": asdict(self.thresholds), "model": {
            "features": list(self.model.features), "means": list(self.model.means),
            "scales": list(self.model.scales), "weights": list(self.model.weights),
            "bias": self.model.bias}}


DEFAULT = Calibration(DEFAULT_THRESHOLDS, ranking.DECISION_MODEL)


class CalibrationError(ValueError):
    pass


def parse(data: Any, source: str) -> Calibration:
    """A calibration file's content, checked; raises CalibrationError with what is wrong."""
    try:
        thresholds = flow.Thresholds(answer=float(data["thresholds"]["answer"]),
                                     suggest=float(data["thresholds"]["suggest"]))
        raw = data["model"]
        model = ranking.DecisionModel(
            features=tuple(str(f) for f in raw["features"]),
            means=tuple(float(v) for v in raw["means"]),
            scales=tuple(float(v) for v in raw["scales"]),
            weights=tuple(float(v) for v in raw["weights"]),
            bias=float(raw["bias"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CalibrationError(f"{source}: not a calibration file ({exc})") from exc
    unknown = set(model.features) - set(ranking.DECISION_FEATURES)
    if unknown:
        raise CalibrationError(f"{source}: unknown decision features {sorted(unknown)}")
    lengths = {len(model.features), len(model.means), len(model.scales), len(model.weights)}
    if len(lengths) != 1 or any(s <= 0 for s in model.scales):
        raise CalibrationError(f"{source}: features, means, scales and weights must pair up")
    if not 0.0 <= thresholds.suggest <= thresholds.answer <= 1.0:
        raise CalibrationError(f"{source}: thresholds need 0 <= suggest <= answer <= 1")
    return Calibration(thresholds, model, source)


_cache: dict[str, tuple[float, Calibration]] = {}
_lock = threading.Lock()


def _from_file(path: Path) -> Calibration | None:
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return None
    key = str(path)
    with _lock:
        cached = _cache.get(key)
        if cached and cached[0] == mtime:
            return cached[1]
        try:
            calibration = parse(json.loads(path.read_text(encoding="utf-8")), str(path))
        except (OSError, json.JSONDecodeError, CalibrationError) as exc:
            # A broken file must not stop the chat: the built-in calibration answers instead.
            log.error("ignoring chat calibration: %s", exc)
            calibration = None
        if calibration is not None:
            _cache[key] = (mtime, calibration)
        return calibration


def current() -> Calibration:
    config = current_app.config
    found = None
    places = [Path(config.get("CONTENT_DIR", "content")) / CONTENT_FILE]
    if config.get("CHAT_CALIBRATION_FROM_INSTANCE", True):
        places.insert(0, Path(config.get("INSTANCE_DIR", "instance")) / INSTANCE_FILE)
    for path in places:
        found = _from_file(path)
        if found is not None:
            break
    calibration = found or DEFAULT
    override = config.get("CHAT_CONFIDENCE_THRESHOLD")
    if override not in (None, ""):
        answer = float(override)
        calibration = Calibration(
            flow.Thresholds(answer, min(answer, calibration.thresholds.suggest)),
            calibration.model, calibration.source)
    return calibration


# --- fitting (`portal eval --calibrate`) --------------------------------------------------

# Confident answers must reach this share of answerable questions (the floor); the
# answer threshold is the highest that still does, so as few gap and unanswerable questions
# as possible get one.
ANSWERED_FLOOR = 0.85
# The suggest threshold keeps this share of answerable questions at least shown articles.
SUGGESTED_FLOOR = 0.95
L2 = 1e-2
# Turns the decision never sees: a sensitive request or a request for a person is handed
# off whatever the score, so such a question cannot help reach the floor.
DECIDED_ELSEWHERE = frozenset({"sensitive", "person", "not_helpful"})


def fit_logistic(x: Any, y: Any, iterations: int = 4000) -> tuple[Any, Any, Any, float]:
    """Logistic regression on standardised features: (means, scales, weights, bias)."""
    import numpy as np

    means, scales = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = (x - means) / scales
    # Balanced classes: a confident answer to a gap counts as much as one withheld.
    weight = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))
    coef, bias = np.zeros(z.shape[1]), 0.0
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-(z @ coef + bias)))
        coef -= 0.5 * (z.T @ ((p - y) * weight) / len(y) + L2 * coef)
        bias -= 0.5 * float(((p - y) * weight).mean())
    return means, scales, coef, bias


def fit_calibration(
    rows: list[dict[str, Any]], names: tuple[str, ...] = ranking.DECISION_FEATURES
) -> tuple[Calibration, dict[str, float]]:
    """The decision model and thresholds fitted on eval rows.

    Positives are answerable questions asked of the whole KB; negatives are the same
    questions with their articles removed (`--gap`) and questions marked unanswerable.
    Questions that retrieval found nothing for count in the shares but cannot be fitted.
    `names` other than the shipped features are for studying a candidate signal
    (bench/chat_calibrate.py decision); a file written with them would not load.
    """
    import numpy as np

    usable = [r for r in rows if r.get("features") and all(n in r["features"] for n in names)]
    positive = [bool(r.get("answerable", True)) and not r.get("gap") for r in usable]
    if sum(positive) < 5 or len(positive) - sum(positive) < 5:
        raise CalibrationError("calibration needs at least 5 answerable and 5 gap or "
                               "unanswerable questions with retrieval features (use --gap)")
    x = np.array([[float(r["features"][n]) for n in names] for r in usable])
    y = np.array(positive, dtype=float)
    means, scales, coef, bias = fit_logistic(x, y)
    model = ranking.DecisionModel(
        features=names, means=tuple(round(float(v), 5) for v in means),
        scales=tuple(round(float(v), 5) for v in scales),
        weights=tuple(round(float(v), 5) for v in coef), bias=round(bias, 5))
    gated = np.array([float(r["features"].get("top_cosine", 1.0)) >= ranking.MIN_TOP_COSINE
                      for r in usable])
    scores = np.array([model.probability(r["features"]) for r in usable]) * gated
    answerable_total = sum(1 for r in rows if r.get("answerable", True) and not r.get("gap"))
    positives = np.sort(scores[y == 1])[::-1]
    sets = sorted({str(r.get("set", "")) for r in usable})

    def floor_threshold(share: float, kb: str | None = None) -> float:
        # The threshold at which `share` of the answerable questions (of one KB's set, when
        # several are fitted together) is still reached.
        mine = [i for i, r in enumerate(usable)
                if y[i] == 1 and gated[i] and r.get("turn") not in DECIDED_ELSEWHERE
                and (kb is None or str(r.get("set", "")) == kb)]
        total = sum(1 for r in rows if r.get("answerable", True) and not r.get("gap")
                    and (kb is None or str(r.get("set", "")) == kb))
        ranked = np.sort(scores[mine])[::-1]
        needed = int(np.ceil(share * total))
        if needed <= 0 or not len(ranked):
            return 0.0
        # Out of reach (too many questions are handed off before the decision): every
        # question the decision sees is kept, and what is below them still handed off.
        needed = min(needed, len(ranked))
        # Rounded down: rounded to nearest, the question on the floor could fall below it.
        return math.floor(float(ranked[needed - 1]) * 1e4) / 1e4

    # Every KB fitted must keep the floor, not only their total.
    answer = min(floor_threshold(ANSWERED_FLOOR, kb) for kb in sets)
    suggest = min(answer, min(floor_threshold(SUGGESTED_FLOOR, kb) for kb in sets))
    fitted = Calibration(flow.Thresholds(answer, suggest), model, "fitted")
    negatives = scores[y == 0]
    gap = np.array([bool(r.get("gap")) for r in usable])[y == 0]
    figures = {
        "answer_threshold": answer, "suggest_threshold": suggest,
        "answered_when_answerable": round(float((positives >= answer).sum()) /
                                          max(answerable_total, 1), 4),
        "no_confident_answer_gap": round(float((negatives[gap] < answer).mean()), 4)
        if gap.any() else float("nan"),
        "no_confident_answer_unanswerable": round(float((negatives[~gap] < answer).mean()), 4)
        if (~gap).any() else float("nan"),
    }
    return fitted, figures

"""Fit the chat's article ranker and answer/hand-off model, and report held-out figures.

Each shared dev set is split in two halves by a fixed seed. The weights are fitted on
half A of both sets only; the figures for half B are what to expect on questions the
fit never saw. The fitted values are printed for pasting into portal/chat/ranking.py.

  .venv/bin/python bench/chat_calibrate.py collect OUT.json   # runs the pipeline (minutes)
  .venv/bin/python bench/chat_calibrate.py fit OUT.json       # fits (seconds)
  .venv/bin/python bench/chat_calibrate.py halves EVAL.json…  # `portal eval --json` per half
  .venv/bin/python bench/chat_calibrate.py decision GAP.json… [--decision-features a,b]
      # the shipped decision's fit (`portal eval --calibrate`) on `portal eval --gap --json`
      # runs of several KBs, in-sample and two-fold on the same fixed halves
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from portal.chat.calibration import Calibration, fit_calibration, fit_logistic
from portal.chat.evaluation import (
    candidate_features,
    load_questions,
    run_evaluation,
    summarise,
)
from portal.chat.ranking import ARTICLE_FEATURES, MIN_TOP_COSINE, TEXT_FEATURES
from portal.chat.ranking import DECISION_FEATURES as ALL_DECISION_FEATURES

# This script refits the article ranker and studies the decision on what the ranking alone
# shows; the shipped decision (with the text signals) is fitted by `portal eval --calibrate`.
DECISION_FEATURES = tuple(f for f in ALL_DECISION_FEATURES if f not in TEXT_FEATURES)

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
SETS = ("wixqa", "techqa")
SEED = 20261123
L2 = 3e-2
ANSWERED_FLOOR = 0.85
Model = tuple[np.ndarray, np.ndarray, np.ndarray, float]


def half_of(question_ids: list[str]) -> dict[str, str]:
    """"A" or "B" for each id: a seeded shuffle of the sorted ids, cut in two."""
    ordered = sorted(question_ids)
    random.Random(SEED).shuffle(ordered)
    return {qid: ("A" if i < len(ordered) // 2 else "B") for i, qid in enumerate(ordered)}


def run_sets(inspect: Callable[[dict[str, Any], Any], dict[str, Any]]
             ) -> dict[str, list[dict[str, Any]]]:
    """Every question of both dev sets through the pipeline; `inspect` adds to each row."""
    import click

    from portal import create_app

    app = create_app()
    result: dict[str, list[dict[str, Any]]] = {}
    with app.app_context():
        for name in SETS:
            questions = load_questions(DATA / name / "questions-dev.jsonl")

            def bar(items: Iterable[Any], label: str = name) -> Any:
                return click.progressbar(items, label=label, file=sys.stderr)

            report = run_evaluation(app, DATA / name / "kb", questions, progress=bar,
                                    inspect=inspect)
            result[name] = report["rows"]
    return result


def collect(out: Path) -> None:
    rows = run_sets(lambda _, reply: {"candidates": candidate_features(reply)})
    out.write_text(json.dumps(rows), encoding="utf-8")


# --- the ranker: a linear score per article, fitted with a listwise softmax loss ---------


def _lists(rows: list[dict[str, Any]]) -> list[tuple[np.ndarray, np.ndarray]]:
    lists = []
    for row in rows:
        candidates = row.get("candidates") or []
        gold = set(row["gold_slugs"])
        labels = np.array([c["slug"] in gold for c in candidates], dtype=float)
        if row["answerable"] and labels.any():
            features = np.array([[c[f] for f in ARTICLE_FEATURES] for c in candidates])
            lists.append((features, labels / labels.sum()))
    return lists


def fit_ranker(rows: list[dict[str, Any]], iterations: int = 2000) -> np.ndarray:
    lists = _lists(rows)
    weights = np.zeros(len(ARTICLE_FEATURES))
    for _ in range(iterations):
        gradient = np.zeros_like(weights)
        for features, target in lists:
            scores = features @ weights
            p = np.exp(scores - scores.max())
            p /= p.sum()
            gradient += features.T @ (p - target)
        weights -= 0.5 * (gradient / len(lists) + L2 * weights)
    return weights


def ranks(rows: list[dict[str, Any]], weights: np.ndarray) -> list[int | None]:
    out: list[int | None] = []
    for row in rows:
        if not row["answerable"] or not row["gold_slugs"]:
            continue
        candidates = row.get("candidates") or []
        scores = [sum(w * c[f] for w, f in zip(weights, ARTICLE_FEATURES, strict=True))
                  for c in candidates]
        order = sorted(range(len(candidates)), key=lambda i: -scores[i])
        gold = set(row["gold_slugs"])
        out.append(next((k + 1 for k, i in enumerate(order) if candidates[i]["slug"] in gold),
                        None))
    return out


def retrieval_figures(found: list[int | None]) -> str:
    n = len(found) or 1
    hit1 = sum(r == 1 for r in found) / n
    hit5 = sum(r is not None and r <= 5 for r in found) / n
    mrr = sum(1 / r for r in found if r) / n
    return f"hit@1 {hit1:.3f}  hit@5 {hit5:.3f}  MRR {mrr:.3f}"


# --- the decision: logistic regression over how sure the ranking is ---------------------


def decision_rows(
    rows: list[dict[str, Any]], weights: np.ndarray, names: tuple[str, ...] = DECISION_FEATURES
) -> tuple[np.ndarray, np.ndarray]:
    from portal.chat.ranking import RankedArticle, decision_features

    features, labels = [], []
    for row in rows:
        candidates = row.get("candidates") or []
        if not candidates:
            continue
        ranked = sorted(
            (RankedArticle(c["slug"], float(sum(w * c[f] for w, f in
                                                 zip(weights, ARTICLE_FEATURES, strict=True))),
                           {f: c[f] for f in ARTICLE_FEATURES}, ())
             for c in candidates),
            key=lambda a: a.score, reverse=True,
        )
        values = decision_features(ranked)
        features.append([values[f] for f in names])
        labels.append(1.0 if row["answerable"] else 0.0)
    return np.array(features), np.array(labels)


def fit_decision(x: np.ndarray, y: np.ndarray) -> Model:
    # The same fit `portal eval --calibrate` uses (balanced classes, L2 1e-2).
    return fit_logistic(x, y, iterations=3000)


def probabilities(x: np.ndarray, model: Model) -> Any:
    means, scales, coef, bias = model
    return 1 / (1 + np.exp(-(((x - means) / scales) @ coef + bias)))


def decision_figures(p: np.ndarray, y: np.ndarray, threshold: float) -> tuple[float, float, str]:
    answered = float((p[y == 1] >= threshold).mean()) if (y == 1).any() else float("nan")
    handed = float((p[y == 0] < threshold).mean()) if (y == 0).any() else float("nan")
    balanced = (answered + handed) / 2
    return balanced, answered, (f"answered {answered:.3f}  hand-off {handed:.3f}  "
                                f"balanced {balanced:.3f}")


def choose_threshold(train: list[dict[str, Any]], weights: np.ndarray, model: Model,
                     names: tuple[str, ...]) -> float:
    """Best balanced accuracy on the training half, among thresholds that still answer
    ANSWERED_FLOOR of its answerable questions (short help-center questions score lower
    than forum posts, so a threshold tuned on TechQA alone hands off many Wix questions)."""
    x, y = decision_rows(train, weights, names)
    p = probabilities(x, model)
    allowed = [float(t) for t in sorted(set(np.round(p, 3)))
               if (p[y == 1] >= t).mean() >= ANSWERED_FLOOR]
    return max(allowed, key=lambda t: (decision_figures(p, y, t)[0], -t))


def calibrate(train: list[dict[str, Any]], names: tuple[str, ...]
              ) -> tuple[np.ndarray, Model, float]:
    weights = fit_ranker(train)
    x, y = decision_rows(train, weights, names)
    model = fit_decision(x, y)
    return weights, model, choose_threshold(train, weights, model, names)


def fit(path: Path, names: tuple[str, ...]) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    halves = {name: half_of([r["id"] for r in data[name]]) for name in SETS}

    def part(half: str, *names_: str) -> list[dict[str, Any]]:
        return [r for name in (names_ or SETS) for r in data[name]
                if halves[name][r["id"]] == half]

    # Two-fold cross-validation (fit on one half, measure on the other, both ways) is what
    # choosing between decision feature sets should look at.
    folds = []
    for train_half, test_half in (("A", "B"), ("B", "A")):
        weights, model, threshold = calibrate(part(train_half), names)
        x, y = decision_rows(part(test_half, "techqa"), weights, names)
        wx, _ = decision_rows(part(test_half, "wixqa"), weights, names)
        balanced, answered, _ = decision_figures(probabilities(x, model), y, threshold)
        folds.append((balanced, answered, 2 * balanced - answered,
                      float((probabilities(wx, model) >= threshold).mean())))
    mean = np.mean(folds, axis=0)
    print(f"decision on {names}, 2-fold CV: TechQA balanced {mean[0]:.3f} (answered "
          f"{mean[1]:.3f}, hand-off {mean[2]:.3f}); Wix answered {mean[3]:.3f}")

    weights, model, threshold = calibrate(part("A"), names)
    print("RANKER_WEIGHTS =", {f: round(float(w), 3) for f, w in zip(ARTICLE_FEATURES, weights,
                                                                     strict=True)})
    means, scales, coef, bias = model
    print("DECISION_MODEL = DecisionModel(")
    print(f"    features={names},")
    print(f"    means={tuple(round(float(v), 4) for v in means)},")
    print(f"    scales={tuple(round(float(v), 4) for v in scales)},")
    print(f"    weights={tuple(round(float(v), 4) for v in coef)},")
    print(f"    bias={round(float(bias), 4)},\n)")
    print(f"DEFAULT_THRESHOLD = {threshold}")
    for name in SETS:
        for half in ("A", "B"):
            rows = part(half, name)
            print(f"{name} half {half} ({len(rows)} q): {retrieval_figures(ranks(rows, weights))}")
            hx, hy = decision_rows(rows, weights, names)
            print(f"    {decision_figures(probabilities(hx, model), hy, threshold)[2]}")


# --- the shipped decision, refitted on `portal eval --gap --json` rows ---------------------


def eval_rows(path: Path) -> list[dict[str, Any]]:
    """One KB's rows, each tagged with its set (the floor holds per KB) and its half (a
    question and its gap twin share an id, so they fall in the same half)."""
    rows = json.loads(path.read_text(encoding="utf-8"))["rows"]
    halves = half_of(sorted({r["id"] for r in rows}))
    return [{**r, "set": path.name, "half": halves[r["id"]]} for r in rows]


def answered_under(calibration: Calibration | None, row: dict[str, Any]) -> bool:
    """Whether the chat gives the row's question a confident answer under `calibration`:
    the eval's outcome replayed (sensitive topics and requests for a person are handed off
    whatever the score; nothing near enough in the KB is never answered). None: what the
    run itself did."""
    if calibration is None:
        return bool(row["answered"])
    features = row.get("features")
    if row.get("turn") != "question" or not features:
        return False
    if features["top_cosine"] < MIN_TOP_COSINE:
        return False
    return calibration.model.probability(features) >= calibration.thresholds.answer


def decision_shares(calibration: Calibration | None, rows: list[dict[str, Any]]
                    ) -> tuple[float, float, float]:
    """Answered answerable questions, gap questions and unanswerable ones left without a
    confident answer."""
    groups = ([r for r in rows if r.get("answerable", True) and not r.get("gap")],
              [r for r in rows if r.get("gap")],
              [r for r in rows if not r.get("answerable", True)])
    wanted = (True, False, False)
    return tuple(  # type: ignore[return-value]
        sum(answered_under(calibration, r) == answer for r in group) / len(group)
        if group else float("nan") for group, answer in zip(groups, wanted, strict=True))


def study_decision(paths: list[Path], names: tuple[str, ...]) -> None:
    """The decision fitted as `portal eval --calibrate` fits it, with `names` as features:
    fitted on every set together, and two-fold (fitted on one half of every set, measured
    on the other half). A candidate signal is computed in retrieval's text features, which
    the eval rows carry whether or not the shipped model reads them."""
    sets = [eval_rows(path) for path in paths]
    everything = [r for rows in sets for r in rows]
    fitted, _ = fit_calibration(everything, names)
    held_out: dict[str, list[tuple[float, float, float]]] = {}
    for train, test in (("A", "B"), ("B", "A")):
        fold, _ = fit_calibration([r for r in everything if r["half"] == train], names)
        for rows in sets:
            held_out.setdefault(rows[0]["set"], []).append(
                decision_shares(fold, [r for r in rows if r["half"] == test]))

    def shares(values: Iterable[float]) -> str:
        answered, gap, unanswerable = values
        return (f"answered {answered:.3f}  gap no-confident {gap:.3f}  "
                f"unanswerable no-confident {unanswerable:.3f}")

    print(f"decision on {names}: thresholds {fitted.thresholds}")
    for rows in sets:
        name = rows[0]["set"]
        print(f"{name}\n  as run    {shares(decision_shares(None, rows))}\n"
              f"  in-sample {shares(decision_shares(fitted, rows))}\n"
              f"  two-fold  {shares(np.mean(np.array(held_out[name]), axis=0))}")


def report_halves(paths: list[Path]) -> None:
    for path in paths:
        rows = json.loads(path.read_text(encoding="utf-8"))["rows"]
        halves = half_of([r["id"] for r in rows])
        for half in ("A", "B"):
            summary = summarise([r for r in rows if halves[r["id"]] == half])
            print(f"{path.name} half {half}: " + json.dumps(summary))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("collect", "fit", "halves", "decision"))
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--decision-features",
                        help="comma-separated; fit: among "
                             f"{', '.join(DECISION_FEATURES)} (default top_probability); "
                             "decision: any in the rows (default the shipped ones)")
    args = parser.parse_args()
    if args.command == "collect":
        collect(args.paths[0])
    elif args.command == "fit":
        fit(args.paths[0], tuple((args.decision_features or "top_probability").split(",")))
    elif args.command == "decision":
        study_decision(args.paths, tuple(args.decision_features.split(","))
                       if args.decision_features else ALL_DECISION_FEATURES)
    else:
        report_halves(args.paths)


if __name__ == "__main__":
    main()

"""`portal eval` on both shared data sets (a small slice of each, to stay fast)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

DATA = Path("/work/shared/data")
REPO = Path(__file__).resolve().parents[2]
SHARED = DATA if DATA.exists() else REPO.parent / "shared" / "data"


def _slice(name: str, tmp_path: Path, questions: int, distractors: int) -> tuple[Path, Path]:
    """The first questions, their gold articles and a few other articles as distractors."""
    rows = [json.loads(line) for line in
            (SHARED / name / "questions-dev.jsonl").read_text().splitlines()][:questions]
    gold = {slug for row in rows for slug in row["gold_slugs"]}
    content = tmp_path / name
    content.mkdir()
    articles = sorted((SHARED / name / "kb").glob("*.md"))
    keep = [p for p in articles if p.stem in gold] + [p for p in articles if p.stem not in gold][
        :distractors]
    for path in keep:
        shutil.copy(path, content / path.name)
    questions_file = tmp_path / f"{name}.jsonl"
    questions_file.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return content, questions_file


@pytest.mark.parametrize("name", ["wixqa", "techqa"])
def test_eval_command_reports_every_figure(runner: Any, tmp_path: Path, name: str) -> None:
    content, questions = _slice(name, tmp_path, questions=6, distractors=12)
    out = tmp_path / "result.json"
    result = runner.invoke(args=["eval", "--content", str(content), "--questions",
                                 str(questions), "--json", str(out), "--limit", "6"])
    assert result.exit_code == 0, result.output
    for key in ("hit_at_1", "hit_at_5", "mrr", "answered_when_answerable", "citation_precision",
                "latency_ms_p50", "latency_ms_p95", "copilot_hit_at_3",
                "copilot_draft_cites_gold"):
        assert key in result.output
    report = json.loads(out.read_text())
    summary = report["summary"]
    assert summary["questions"] == 6 and len(report["rows"]) == 6
    assert summary["hit_at_5"] >= 0.8
    # The agent copilot, reading each question as a ticket, suggests and cites the gold.
    assert summary["copilot_hit_at_3"] >= 0.8 and summary["copilot_draft_cites_gold"] >= 0.8
    assert summary["content_problems"] == 0


def test_eval_refuses_a_broken_question_file(runner: Any, tmp_path: Path) -> None:
    questions = tmp_path / "bad.jsonl"
    questions.write_text('{"question": "fine"}\n{not json\n')
    result = runner.invoke(args=["eval", "--content", str(REPO / "content"), "--questions",
                                 str(questions)])
    assert result.exit_code != 0
    assert "bad.jsonl:2" in result.output


def test_evaluation_rows_can_carry_the_ranking_features(app: Any, tmp_path: Path) -> None:
    from portal.chat.evaluation import candidate_features, load_questions, run_evaluation
    from portal.chat.ranking import ARTICLE_FEATURES

    content, questions = _slice("wixqa", tmp_path, questions=2, distractors=3)
    report = run_evaluation(app, content, load_questions(questions),
                            inspect=lambda _, reply: {"candidates": candidate_features(reply)})
    for row in report["rows"]:
        assert row["candidates"], row
        assert {c["slug"] for c in row["candidates"][:5]} >= set(row["retrieved"])
        assert all(set(ARTICLE_FEATURES) <= set(c) for c in row["candidates"])


def test_research_scripts_can_read_each_reply_beside_its_row(app: Any, tmp_path: Path) -> None:
    from portal.chat.evaluation import load_questions, run_evaluation

    content, questions = _slice("wixqa", tmp_path, questions=2, distractors=3)
    seen: list[str] = []

    def inspect(question: dict[str, Any], reply: Any) -> dict[str, Any]:
        seen.append(question["id"])
        return {"top_slug": reply.retrieval.sources[0].slug}

    report = run_evaluation(app, content, load_questions(questions), inspect=inspect)
    assert seen == [row["id"] for row in report["rows"]]
    assert all(row["top_slug"] == row["retrieved"][0] for row in report["rows"])


CONVERSATIONS = [
    {"id": "t1", "audience": "public", "turns": [
        {"message": "hi", "expect": "chitchat"},
        {"message": "How do I reset my password?", "expect": "answer",
         "gold_slugs": ["reset-password"], "follow_up": False},
        {"message": "thanks, that sorted it", "expect": "chitchat"},
    ]},
    {"id": "t2", "audience": "public", "turns": [
        {"message": "How do I pair the hub with my thermostat?", "expect": "answer",
         "gold_slugs": ["first-setup-app", "hub-pairing-fails"], "follow_up": False},
        {"message": "can I talk to a human please", "expect": "handoff",
         "why": "asked_for_person"},
        {"message": "tell me a joke", "expect": "chitchat", "off_topic": True},
    ]},
]


def test_conversations_are_scored_turn_by_turn_through_the_web_chats_path(
    runner: Any, tmp_path: Path
) -> None:
    questions = tmp_path / "conversations.jsonl"
    questions.write_text("\n".join(json.dumps(c) for c in CONVERSATIONS) + "\n")
    out = tmp_path / "result.json"
    result = runner.invoke(args=["eval", "--content", str(REPO / "content"), "--questions",
                                 str(questions), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "turn_accuracy" in result.output and "conversation_turns" in result.output
    report = json.loads(out.read_text())
    summary, turns = report["summary"], report["turns"]
    assert summary["turns"] == 6 and len(turns) == 6
    assert [t["category"] for t in turns] == [
        "chitchat", "answer_first", "chitchat", "answer_first", "handoff_asked_for_person",
        "chitchat_off_topic"]
    assert [t["outcome"] for t in turns] == [
        "chitchat", "answer", "chitchat", "answer", "handoff", "chitchat"]
    assert [t["understood"] for t in turns] == [
        "greeting", "question", "worked", "question", "person", "off_topic"]
    assert summary["turn_accuracy"] == 1.0
    assert set(summary["conversation_turns"]) == {
        "chitchat", "answer_first", "handoff_asked_for_person", "chitchat_off_topic"}


def test_a_broken_conversation_row_is_refused_with_its_line(runner: Any, tmp_path: Path) -> None:
    questions = tmp_path / "bad.jsonl"
    questions.write_text(json.dumps({"turns": [{"message": "hi", "expect": "maybe"}]}) + "\n")
    result = runner.invoke(args=["eval", "--content", str(REPO / "content"), "--questions",
                                 str(questions)])
    assert result.exit_code != 0 and "bad.jsonl:1" in result.output


def test_gap_asks_again_without_the_gold_articles_and_calibrate_writes_a_usable_file(
    runner: Any, tmp_path: Path, app: Any
) -> None:
    from portal.chat import calibration

    content, questions = _slice("wixqa", tmp_path, questions=8, distractors=10)
    out, fitted = tmp_path / "result.json", tmp_path / "calibration.json"
    result = runner.invoke(args=["eval", "--content", str(content), "--questions",
                                 str(questions), "--gap", "--json", str(out),
                                 "--calibrate", str(fitted)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    gap_rows = [r for r in report["rows"] if r.get("gap")]
    assert len(gap_rows) == 8 and report["summary"]["gap_questions"] == 8
    # With its gold articles gone, no gap question may cite them.
    assert all(not set(r["cited"]) & set(r["gold_slugs"]) for r in gap_rows)
    assert 0 <= report["summary"]["gap_no_confident_answer"] <= 1
    loaded = calibration.parse(json.loads(fitted.read_text()), str(fitted))
    assert 0 <= loaded.thresholds.suggest <= loaded.thresholds.answer <= 1
    # The portal answers with the file once it is in the instance folder.
    instance = Path(app.config["INSTANCE_DIR"])
    (instance / calibration.INSTANCE_FILE).write_text(fitted.read_text())
    try:
        with app.app_context():
            assert calibration.current().thresholds == loaded.thresholds
            assert calibration.current().source.endswith(calibration.INSTANCE_FILE)
    finally:
        (instance / calibration.INSTANCE_FILE).unlink()


def test_a_broken_calibration_file_is_ignored(app: Any) -> None:
    from portal.chat import calibration

    instance = Path(app.config["INSTANCE_DIR"])
    (instance / calibration.INSTANCE_FILE).write_text('{"thresholds": {"answer": 2}}')
    try:
        with app.app_context():
            current = calibration.current()
            # The next place (the KB's own file, else the built-in one) answers instead.
            assert current.source != str(instance / calibration.INSTANCE_FILE)
            assert 0 <= current.thresholds.answer <= 1
    finally:
        (instance / calibration.INSTANCE_FILE).unlink()


def test_calibrate_needs_gaps_or_unanswerable_questions(runner: Any, tmp_path: Path) -> None:
    content, questions = _slice("wixqa", tmp_path, questions=3, distractors=3)
    result = runner.invoke(args=["eval", "--content", str(content), "--questions",
                                 str(questions), "--calibrate", str(tmp_path / "c.json")])
    assert result.exit_code != 0 and "--gap" in result.output


def test_calibration_keeps_the_answered_floor_in_what_customers_get() -> None:
    """Questions a sensitive topic hands off are never answered whatever their score: the
    fitted threshold must reach the floor with the others, and the question on the floor
    must still be answered once the threshold is written down."""
    import math
    import random

    from portal.chat.calibration import ANSWERED_FLOOR, fit_calibration
    from portal.chat.ranking import DECISION_FEATURES

    rng = random.Random(7)

    def row(level: float, **extra: Any) -> dict[str, Any]:
        features = {name: level + rng.uniform(-0.3, 0.3) for name in DECISION_FEATURES}
        features["top_cosine"] = 0.5 + rng.uniform(0.0, 0.3)
        return {"answerable": True, "turn": "question", "features": features, **extra}

    rows = [row(0.8) for _ in range(36)] + [row(0.9, turn="sensitive") for _ in range(4)]
    rows += [row(0.2, gap=True) for _ in range(40)]
    fitted, _ = fit_calibration(rows)
    answered = sum(1 for r in rows if not r.get("gap") and r["turn"] == "question"
                   and fitted.model.probability(r["features"]) >= fitted.thresholds.answer)
    assert answered >= math.ceil(ANSWERED_FLOOR * 40)


def test_calibration_studies_a_candidate_signal_the_rows_carry() -> None:
    """A signal retrieval computes but the shipped model does not read can be fitted for a
    study (bench/chat_calibrate.py decision), keeping the answered floor; a calibration file
    naming it is refused, so a study never changes what the chat loads."""
    import math
    import random

    from portal.chat.calibration import (
        ANSWERED_FLOOR,
        CalibrationError,
        fit_calibration,
        parse,
    )

    rng = random.Random(11)
    names = ("top_probability", "top_cosine", "candidate_signal")

    def row(level: float, **extra: Any) -> dict[str, Any]:
        features = {"top_probability": rng.uniform(0.2, 0.9), "top_cosine": rng.uniform(0.5, 0.8),
                    "candidate_signal": level + rng.uniform(-0.2, 0.2)}
        return {"answerable": True, "turn": "question", "features": features, **extra}

    rows = [row(0.8) for _ in range(40)] + [row(0.2, gap=True) for _ in range(40)]
    fitted, figures = fit_calibration(rows, names)
    assert fitted.model.features == names
    answered = sum(1 for r in rows if not r.get("gap")
                   and fitted.model.probability(r["features"]) >= fitted.thresholds.answer)
    assert answered >= math.ceil(ANSWERED_FLOOR * 40)
    # The candidate separates the two kinds, so the gaps are handed off.
    assert figures["no_confident_answer_gap"] >= 0.9
    with pytest.raises(CalibrationError, match="candidate_signal"):
        parse(fitted.as_json(), "study.json")

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
                "latency_ms_p50", "latency_ms_p95"):
        assert key in result.output
    report = json.loads(out.read_text())
    summary = report["summary"]
    assert summary["questions"] == 6 and len(report["rows"]) == 6
    assert summary["hit_at_5"] >= 0.8
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

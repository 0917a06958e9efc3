"""`portal eval`: measure the chatbot on a question set."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from portal.chat.calibration import CalibrationError, fit_calibration
from portal.chat.evaluation import (
    GAP_KEYS,
    SEARCH_KEYS,
    SUMMARY_KEYS,
    TURN_KEYS,
    load_questions,
    run_evaluation,
)


@click.command("eval")
@click.option("--content", "content", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="KB directory (Markdown with front matter).")
@click.option("--questions", "questions_file", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSONL: id, question, answerable, gold_slugs, reference_answer.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the figures and one row per question here.")
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N questions.")
@click.option("--gap", is_flag=True,
              help="Ask each answerable question again as if its gold articles were missing.")
@click.option("--calibrate", "calibrate_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Fit the answer/suggest/hand-off decision on the rows and write it here.")
@click.option("--with-rows", "extra_rows", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Rows of earlier --json runs (other KBs) to calibrate on as well.")
@with_appcontext
def eval_command(
    content: Path, questions_file: Path, json_out: Path | None, limit: int | None, gap: bool,
    calibrate_out: Path | None, extra_rows: tuple[Path, ...],
) -> None:
    """Run questions (or conversations) through the chat pipeline on a throwaway copy of
    CONTENT."""
    try:
        questions = load_questions(questions_file, limit)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if not questions:
        raise click.ClickException(f"{questions_file} holds no questions")

    def bar(items: Iterable[Any]) -> Any:
        return click.progressbar(items, label="Asking", file=sys.stderr)

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    result = run_evaluation(app, content, questions, progress=bar, gap=gap)
    summary = result["summary"]
    keys = [k for k in (*SUMMARY_KEYS, *GAP_KEYS, *TURN_KEYS, *SEARCH_KEYS,
                        *result["extra_keys"]) if k in summary]
    width = max(len(k) for k in keys)
    for key in keys:
        value = summary.get(key)
        if isinstance(value, dict):
            value = "  ".join(f"{k} {v}" for k, v in value.items()) or "-"
        click.echo(f"{key:<{width}}  {'-' if value is None else value}")
    if calibrate_out:
        rows = [{**r, "set": str(questions_file)} for r in result["rows"]]
        for path in extra_rows:
            rows.extend({**r, "set": str(path)}
                        for r in json.loads(path.read_text(encoding="utf-8")).get("rows", []))
        try:
            fitted, figures = fit_calibration(rows)
        except CalibrationError as exc:
            raise click.ClickException(str(exc)) from exc
        calibrate_out.write_text(json.dumps(fitted.as_json(), indent=2) + "\n",
                                 encoding="utf-8")
        click.echo(f"calibration written to {calibrate_out}: " + "  ".join(
            f"{k} {v}" for k, v in figures.items()))
    if summary.get("content_problems"):
        click.echo(f"({summary['content_problems']} content files could not be loaded)")
    if json_out:
        json_out.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
        click.echo(f"wrote {json_out}")

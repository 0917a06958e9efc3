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

from portal.chat.evaluation import SUMMARY_KEYS, load_questions, run_evaluation


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
@with_appcontext
def eval_command(
    content: Path, questions_file: Path, json_out: Path | None, limit: int | None
) -> None:
    """Run questions through the chat pipeline on a throwaway copy of CONTENT."""
    try:
        questions = load_questions(questions_file, limit)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if not questions:
        raise click.ClickException(f"{questions_file} holds no questions")

    def bar(items: Iterable[Any]) -> Any:
        return click.progressbar(items, label="Asking", file=sys.stderr)

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    result = run_evaluation(app, content, questions, progress=bar)
    summary = result["summary"]
    width = max(len(k) for k in SUMMARY_KEYS)
    for key in SUMMARY_KEYS:
        value = summary.get(key)
        click.echo(f"{key:<{width}}  {'-' if value is None else value}")
    if summary.get("content_problems"):
        click.echo(f"({summary['content_problems']} content files could not be loaded)")
    if json_out:
        json_out.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
        click.echo(f"wrote {json_out}")

"""`portal eval`: run a question set through the chat pipeline on a throwaway KB.

A fresh SQLite database and index prefix are built from the content directory,
so the live KB is never touched. Figures follow ../shared/data/README.md.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from flask import Flask

SUMMARY_KEYS = (
    "questions", "answerable", "hit_at_1", "hit_at_5", "mrr", "answered_when_answerable",
    "handoff_when_unanswerable", "citation_precision", "answer_recall", "latency_ms_p50",
    "latency_ms_p95",
)
GAP_KEYS = ("gap_questions", "gap_no_confident_answer", "gap_suggested", "gap_handoff")
TURN_KEYS = ("turns", "turn_accuracy", "conversation_turns", "turn_latency_ms_p50")
_TOKEN = re.compile(r"\w+", re.UNICODE)
# Other packages measure themselves on the same questions (the agent copilot) by putting an
# `EvalScorer` in this app extension list: chat never imports them.
EVAL_SCORERS = "portal.eval_scorers"


class EvalScorer(Protocol):
    keys: tuple[str, ...]

    def score(self, question: dict[str, Any], reply: Any,
              audiences: tuple[str, ...]) -> dict[str, Any]: ...

    def summarise(self, rows: list[dict[str, Any]]) -> dict[str, Any]: ...


def load_questions(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
        if isinstance(row, dict) and isinstance(row.get("turns"), list):
            _check_conversation(row, f"{path}:{number}")
            row.setdefault("id", f"c{number}")
            rows.append(row)
            if limit and len(rows) >= limit:
                break
            continue
        if isinstance(row, dict) and isinstance(row.get("query"), str) and "question" not in row:
            # A search-box query: scored on what the search box shows only.
            row.setdefault("id", f"s{number}")
            row.setdefault("gold_slugs", [])
            rows.append(row)
            if limit and len(rows) >= limit:
                break
            continue
        if not isinstance(row, dict) or not isinstance(row.get("question"), str):
            raise ValueError(f"{path}:{number}: each line needs a \"question\" or \"query\" "
                             "string, or a \"turns\" list")
        row.setdefault("id", f"q{number}")
        row.setdefault("answerable", True)
        row.setdefault("gold_slugs", [])
        rows.append(row)
        if limit and len(rows) >= limit:
            break
    return rows


TURN_EXPECTATIONS = ("answer", "handoff", "chitchat")


def _check_conversation(row: dict[str, Any], where: str) -> None:
    for index, turn in enumerate(row["turns"], start=1):
        if not isinstance(turn, dict) or not isinstance(turn.get("message"), str):
            raise ValueError(f"{where}: turn {index} needs a \"message\" string")
        if turn.get("expect") not in TURN_EXPECTATIONS:
            raise ValueError(f"{where}: turn {index} \"expect\" must be one of "
                             f"{', '.join(TURN_EXPECTATIONS)}")


def token_recall(answer: str, reference: str | None) -> float | None:
    if not reference:
        return None
    wanted = {t.lower() for t in _TOKEN.findall(reference)}
    if not wanted:
        return None
    got = {t.lower() for t in _TOKEN.findall(answer)}
    return len(wanted & got) / len(wanted)


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def score_question(question: dict[str, Any], reply: Any, latency_ms: float) -> dict[str, Any]:
    gold = {_slugish(g) for g in question.get("gold_slugs") or []}
    ranked = reply.retrieval.slugs if reply.retrieval else []
    rank = next((i + 1 for i, slug in enumerate(ranked) if slug in gold), None)
    cited = list(dict.fromkeys(c.slug for c in reply.citations))
    return {
        "id": question["id"],
        "answerable": bool(question.get("answerable", True)),
        "gold_slugs": sorted(gold),
        "retrieved": ranked[:5],
        "rank": rank,
        "answered": reply.answered,
        "outcome": str(reply.outcome),
        "turn": str(reply.turn.kind) if reply.turn else None,
        "reason": str(reply.reason) if reply.reason else None,
        "confidence": round(reply.confidence, 4),
        "cited": cited,
        "cites_gold": bool(gold & set(cited)) if reply.answered else None,
        "answer_recall": token_recall(reply.text, question.get("reference_answer"))
        if reply.answered else None,
        "latency_ms": round(latency_ms, 1),
        "features": decision_inputs(reply),
    }


def decision_inputs(reply: Any) -> dict[str, float] | None:
    """What the answer / suggest / hand-off decision read, for `--calibrate` to refit it."""
    retrieval = reply.retrieval
    if retrieval is None or not retrieval.decision_features:
        return None
    return {name: round(float(v), 5) for name, v in retrieval.decision_features.items()}


def candidate_features(reply: Any) -> list[dict[str, Any]]:
    from portal.chat.ranking import article_features

    sources = reply.retrieval.sources if reply.retrieval else []
    return [{"slug": s.slug, **article_features(s.passages)} for s in sources]


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    ranked = [r for r in answerable if r["gold_slugs"]]

    def share(items: Iterable[Any], total: int) -> float | None:
        return round(sum(1 for _ in items) / total, 4) if total else None

    answered = [r for r in answerable if r["answered"]]
    cited = [r for r in rows if r["answered"] and r["gold_slugs"]]
    recalls = [r["answer_recall"] for r in answered if r["answer_recall"] is not None]
    latencies = [r["latency_ms"] for r in rows]
    return {
        "questions": len(rows),
        "answerable": len(answerable),
        "hit_at_1": share((r for r in ranked if r["rank"] == 1), len(ranked)),
        "hit_at_5": share((r for r in ranked if r["rank"] and r["rank"] <= 5), len(ranked)),
        "mrr": round(sum(1 / r["rank"] for r in ranked if r["rank"]) / len(ranked), 4)
        if ranked else None,
        "answered_when_answerable": share(answered, len(answerable)),
        "handoff_when_unanswerable": share(
            (r for r in unanswerable if not r["answered"]), len(unanswerable)
        ),
        "citation_precision": share((r for r in cited if r["cites_gold"]), len(cited)),
        "answer_recall": round(statistics.fmean(recalls), 4) if recalls else None,
        "latency_ms_p50": round(_percentile(latencies, 0.5), 1),
        "latency_ms_p95": round(_percentile(latencies, 0.95), 1),
    }


def _slugish(value: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-") or "general"


def normalised_copy(content: Path, target: Path) -> Path:
    """A copy of an imported KB whose front matter fits the portal's rules.

    Shared data sets carry free-text categories ("Technote (FAQ)"), mixed-case
    slugs and long titles; the portal's loader rightly refuses those, so the eval
    maps them (category and slug to lowercase-hyphen, title cut) instead of
    silently evaluating on a fraction of the KB. Gold slugs are compared the same way.
    """
    import yaml

    for source in content.rglob("*"):
        if source.is_file() and source.suffix != ".md":
            # The KB's own settings (synonyms, stop words, its chat calibration) come along.
            destination = target / source.relative_to(content)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination)
    for source in content.rglob("*.md"):
        relative = source.relative_to(content)
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        text = source.read_text(encoding="utf-8", errors="replace")
        front, body = _front_matter(text)
        meta = yaml.safe_load(front) if front else None
        if isinstance(meta, dict):
            if meta.get("slug"):
                meta["slug"] = _slugish(str(meta["slug"]))
            if meta.get("category"):
                meta["category"] = _slugish(str(meta["category"]))
            if isinstance(meta.get("title"), str):
                meta["title"] = meta["title"][:MAX_TITLE_LENGTH]
            front_text = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
            text = f"---\n{front_text}---\n{body}"
        destination.write_text(text, encoding="utf-8")
    return target


MAX_TITLE_LENGTH = 200


def _front_matter(text: str) -> tuple[str | None, str]:
    match = re.match(r"^---\s*\n(.*?)\n---\s*\n?(.*)$", text, re.DOTALL)
    return (match.group(1), match.group(2)) if match else (None, text)


def build_app(parent: Flask, workdir: Path) -> Flask:
    from portal import create_app

    overrides: dict[str, Any] = {
        "DATABASE_URL": f"sqlite:///{workdir / 'eval.db'}",
        "MEILI_INDEX_PREFIX": f"eval{secrets.token_hex(4)}",
        "INSTANCE_DIR": str(parent.config.get("INSTANCE_DIR", workdir)),
        "SECRET_KEY": parent.config.get("SECRET_KEY") or secrets.token_urlsafe(40),
        "ENV": "evaluation",
        # The KB under evaluation answers with its own calibration (or the built-in one),
        # never with the one this installation keeps for its live KB.
        "CONTENT_DIR": str(workdir / "content"),
        "CHAT_CALIBRATION_FROM_INSTANCE": False,
    }
    for key in ("MEILI_URL", "MEILI_MASTER_KEY", "MEILI_API_KEY", "MEILI_BIN", "OPENAI_API_KEY",
                "OPENAI_BASE_URL", "CHAT_MODEL", "LLM_TIMEOUT", "CHAT_CONFIDENCE_THRESHOLD"):
        if parent.config.get(key) not in (None, ""):
            overrides[key] = parent.config[key]
    return create_app(overrides)


def run_evaluation(
    parent: Flask,
    content: Path,
    questions: list[dict[str, Any]],
    *,
    progress: Callable[[Iterable[Any]], Any] | None = None,
    audiences: tuple[str, ...] = ("public",),
    inspect: Callable[[dict[str, Any], Any], dict[str, Any]] | None = None,
    gap: bool = False,
) -> dict[str, Any]:
    """Figures and per-question rows; `inspect(question, reply)` returns fields to add to each
    row, such as every retrieved article's ranking features (`candidate_features`, what
    bench/chat_calibrate.py fits the ranker on).

    Conversation rows (`turns`) run through the web chat's own path, turn by turn. With
    `gap`, every answerable question is asked a second time as if its gold articles were
    missing from the KB: the right reply then is no confident answer.
    """
    from portal.chat import services as chat_services
    from portal.extensions import db
    from portal.kb import services as kb_services

    workdir = Path(tempfile.mkdtemp(prefix="portal-eval-"))
    app = build_app(parent, workdir)
    try:
        with app.app_context():
            db.create_all()
            copy = normalised_copy(content, workdir / "content")
            report = kb_services.sync_content(str(copy))
            rows: list[dict[str, Any]] = []
            turn_rows: list[dict[str, Any]] = []
            search_rows: list[dict[str, Any]] = []
            scorers: list[EvalScorer] = list(app.extensions.get(EVAL_SCORERS, ()))
            with (progress(questions) if progress else _nullbar(questions)) as bar:
                for question in bar:
                    if "turns" in question:
                        turn_rows.extend(run_conversation(question))
                        continue
                    search_rows.append(run_search(question, audiences))
                    if "question" not in question:
                        continue
                    started = time.perf_counter()
                    reply = chat_services.answer_question(question["question"],
                                                          audiences=audiences)
                    elapsed = (time.perf_counter() - started) * 1000
                    row = score_question(question, reply, elapsed)
                    for scorer in scorers:
                        row.update(scorer.score(question, reply, audiences))
                    if inspect:
                        row.update(inspect(question, reply))
                    rows.append(row)
                    gold = frozenset(_slugish(g) for g in question.get("gold_slugs") or [])
                    if gap and question.get("answerable", True) and gold:
                        started = time.perf_counter()
                        reply = chat_services.answer_question(
                            question["question"], audiences=audiences, exclude=gold)
                        elapsed = (time.perf_counter() - started) * 1000
                        row = {**score_question(question, reply, elapsed), "gap": True}
                        if inspect:
                            row.update(inspect(question, reply))
                        rows.append(row)
            summary = summarise([r for r in rows if not r.get("gap")])
            for scorer in scorers:
                summary.update(scorer.summarise([r for r in rows if not r.get("gap")]))
            if gap:
                summary.update(summarise_gap([r for r in rows if r.get("gap")]))
            if turn_rows:
                summary.update(summarise_turns(turn_rows))
            if search_rows:
                summary.update(summarise_search(search_rows))
            summary["content_problems"] = len(report.errors)
            engine = kb_services.get_engine()
            for name in ("chunks", "articles"):
                try:
                    engine.call(partial(_delete_index, uid=engine.index_name(name)))
                except Exception:  # noqa: BLE001,S110 - cleanup is best effort
                    pass
            db.session.remove()
            db.engine.dispose()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {"summary": summary, "rows": rows, "turns": turn_rows, "searches": search_rows,
            "extra_keys": [key for scorer in scorers for key in scorer.keys]}


def summarise_gap(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """How honest the bot is where the KB lacks the article: a confident answer is wrong."""
    total = len(rows)

    def share(outcome: str) -> float | None:
        return round(sum(r["outcome"] == outcome for r in rows) / total, 4) if total else None

    return {
        "gap_questions": total,
        "gap_no_confident_answer": round(sum(not r["answered"] for r in rows) / total, 4)
        if total else None,
        "gap_suggested": share("suggest"),
        "gap_handoff": share("handoff"),
    }


# --- the search box ------------------------------------------------------------------------

SEARCH_KEYS = ("search_hit_at_1", "search_hit_at_3", "search_hit_at_5", "search_mrr",
               "search_latency_ms_p50", "search_latency_ms_p95", "search_by_kind")


def run_search(row: dict[str, Any], audiences: tuple[str, ...]) -> dict[str, Any]:
    """What the search box shows for the row's query (or question), as the customer types it:
    the first page of `kb.services.search_articles`."""
    from portal.kb import services as kb_services

    text = str(row.get("query") or row.get("question") or "")
    audience = (("public", "customers") if row.get("audience") == "customers" else audiences)
    started = time.perf_counter()
    results = kb_services.search_articles(text, audiences=audience, per_page=5)
    elapsed = (time.perf_counter() - started) * 1000
    gold = {_slugish(g) for g in row.get("gold_slugs") or []}
    shown = [hit.slug for hit in results.hits]
    rank = next((i + 1 for i, slug in enumerate(shown) if slug in gold), None)
    return {"id": row["id"], "kind": row.get("kind"), "gold_slugs": sorted(gold),
            "shown": shown, "rank": rank, "natural": results.natural, "weak": results.weak,
            "latency_ms": round(elapsed, 1)}


def summarise_search(rows: list[dict[str, Any]]) -> dict[str, Any]:
    scored = [r for r in rows if r["gold_slugs"]]

    def hit(items: list[dict[str, Any]], k: int) -> float | None:
        return round(sum(1 for r in items if r["rank"] and r["rank"] <= k) / len(items), 4) \
            if items else None

    kinds: dict[str, dict[str, Any]] = {}
    for kind in sorted({str(r["kind"]) for r in scored if r.get("kind")}):
        mine = [r for r in scored if r.get("kind") == kind]
        kinds[kind] = {"hit_at_1": hit(mine, 1), "hit_at_3": hit(mine, 3), "n": len(mine)}
    latencies = [r["latency_ms"] for r in rows]
    return {
        "search_hit_at_1": hit(scored, 1), "search_hit_at_3": hit(scored, 3),
        "search_hit_at_5": hit(scored, 5),
        "search_mrr": round(sum(1 / r["rank"] for r in scored if r["rank"]) / len(scored), 4)
        if scored else None,
        "search_latency_ms_p50": round(_percentile(latencies, 0.5), 1),
        "search_latency_ms_p95": round(_percentile(latencies, 0.95), 1),
        "search_by_kind": kinds,
    }


# --- conversations --------------------------------------------------------------------------

CONVERSATION_CATEGORIES = (
    "answer_first", "answer_follow_up", "answer_switch", "handoff_asked_for_person",
    "handoff_sensitive", "handoff_not_covered", "handoff_not_helpful", "chitchat",
    "chitchat_off_topic",
)


def turn_category(turn: dict[str, Any], asked_before: bool) -> str:
    expect = turn["expect"]
    if expect == "answer":
        if turn.get("follow_up"):
            return "answer_follow_up"
        return "answer_switch" if asked_before else "answer_first"
    if expect == "handoff":
        why = str(turn.get("why") or "not_covered")
        return f"handoff_{why}" if f"handoff_{why}" in CONVERSATION_CATEGORIES else (
            "handoff_not_covered")
    return "chitchat_off_topic" if turn.get("off_topic") else "chitchat"


def turn_is_right(turn: dict[str, Any], outcome: str, cited: list[str]) -> bool:
    """As ../shared/data/README.md scores a turn."""
    expect = turn["expect"]
    if expect == "answer":
        gold = {_slugish(g) for g in turn.get("gold_slugs") or []}
        return outcome == "answer" and bool(gold & set(cited))
    if expect == "handoff":
        return outcome != "answer" and outcome != "chitchat"
    return outcome == "chitchat" and not cited


def run_conversation(conversation_row: dict[str, Any]) -> list[dict[str, Any]]:
    """One conversation through the web chat's path: post each message, stream the reply,
    and read back what was stored (the turn's kind, the reply's outcome and citations)."""
    from sqlalchemy import select

    from portal.chat import services as chat_services
    from portal.chat.models import Message
    from portal.extensions import db

    audiences = ("public", "customers") if conversation_row.get("audience") == "customers" \
        else ("public",)
    conversation = chat_services.start_conversation(
        visitor_id=f"eval-{secrets.token_hex(6)}", user_id=None)
    rows: list[dict[str, Any]] = []
    asked_before = False
    for index, turn in enumerate(conversation_row["turns"]):
        started = time.perf_counter()
        pending = chat_services.post_message(conversation, turn["message"])
        for _ in chat_services.stream_reply(conversation, pending, audiences=audiences):
            pass
        elapsed = (time.perf_counter() - started) * 1000
        reply = db.session.get(Message, pending.id)
        question = db.session.scalars(
            select(Message).where(Message.conversation_id == conversation.id,
                                  Message.role == "user", Message.id < pending.id)
            .order_by(Message.id.desc()).limit(1)).first()
        outcome = reply.kind if reply else "handoff"
        cited = list(dict.fromkeys(c["slug"] for c in (reply.citations if reply else [])))
        category = turn_category(turn, asked_before)
        rows.append({
            "conversation": conversation_row["id"], "turn": index + 1,
            "message": turn["message"], "expect": turn["expect"], "category": category,
            "gold_slugs": turn.get("gold_slugs") or [], "understood": question.kind
            if question else None, "outcome": outcome, "cited": cited,
            "confidence": reply.confidence if reply else None,
            "right": turn_is_right(turn, outcome, cited), "latency_ms": round(elapsed, 1),
        })
        asked_before = asked_before or turn["expect"] in ("answer", "handoff")
    return rows


def summarise_turns(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by_category: dict[str, dict[str, Any]] = {}
    for name in CONVERSATION_CATEGORIES:
        mine = [r for r in rows if r["category"] == name]
        if mine:
            by_category[name] = round(sum(r["right"] for r in mine) / len(mine), 4)
    latencies = [r["latency_ms"] for r in rows]
    return {
        "turns": len(rows),
        "turn_accuracy": round(sum(r["right"] for r in rows) / len(rows), 4) if rows else None,
        "conversation_turns": by_category,
        "turn_latency_ms_p50": round(_percentile(latencies, 0.5), 1),
    }


def _delete_index(client: Any, *, uid: str) -> None:
    client.delete_index(uid)


class _nullbar:
    def __init__(self, items: list[Any]) -> None:
        self.items = items

    def __enter__(self) -> list[Any]:
        return self.items

    def __exit__(self, *exc: object) -> None:
        return None

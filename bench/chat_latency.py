"""Chat latency on a 2,000-article KB with the local answerer.

Measures the turn step + retrieval + decision + first streamed piece (what a customer waits
for before text appears), for new questions and for follow-ups (which retrieve twice: the
message alone and read with its topic), against a plain Meilisearch keyword query as the raw
engine.
The KB: the demo content, both shared data sets and generated filler articles.
Uses MEILI_URL/MEILI_MASTER_KEY if set, else starts its own Meilisearch.

Run: .venv/bin/python bench/chat_latency.py [--articles 2000] [--questions 100]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
QUESTIONS = [
    "How do I reset my password?", "My thermostat shows the wrong temperature",
    "How do I pair the hub?", "Can I change my plan?", "Where is my order?",
    "How do I set a weekend schedule?", "Why did my payment fail?",
    "How do I connect Alexa?", "How do I share access with my family?",
    "Is my data encrypted?",
    # Long messages with a subject line cost a second query embedding.
    "Hub will not pair\n\nI pressed the pairing button twice and the light keeps blinking "
    "orange. The app says no hub found. What should I try next?",
    "Invoice shows the wrong plan\n\nI moved to the yearly plan last month but my invoice "
    "still shows the monthly price. How do I get this corrected?",
]
# Follow-ups after the first question of the list, as a conversation would send them.
FOLLOW_UPS = ["and if that doesn't work?", "how long does it take?", "does that cost extra?",
              "what about on Android?"]
WORDS = ("boiler radiator schedule sensor battery firmware update app router wifi hub pairing "
         "invoice plan discount delivery warranty zone heating cooling humidity eco away mode "
         "geofence vacation alert notification filter pump valve calibrate reset").split()


def filler(index: int, rng: random.Random) -> str:
    title = " ".join(rng.sample(WORDS, 4)).capitalize()
    sections = []
    for heading in ("Overview", "Steps"):
        words = " ".join(rng.choice(WORDS) for _ in range(60))
        sections.append(f"## {heading}\n\n{words.capitalize()}.\n")
    return f"---\ntitle: {title} {index}\nslug: filler-{index}\n---\n\n" + "\n".join(sections)


def store_articles(articles: list[Any]) -> None:
    """The articles in the database too, as a sync leaves them: a follow-up's answer is
    checked against its article's sections, read from there."""
    from sqlalchemy import insert

    from portal.extensions import db
    from portal.kb.models import KbArticle, KbSection
    from portal.kb.rendering import split_sections
    from portal.kb.sync import fill_row, section_rows

    db.create_all()
    rows, sections = [], []
    for article in articles:
        row = KbArticle(views=0, helpful_yes=0, helpful_no=0)
        parts = split_sections(article.title, article.body)
        fill_row(row, article, parts)
        rows.append(row)
        sections.append(parts)
    db.session.add_all(rows)
    db.session.flush()
    db.session.execute(insert(KbSection), [s for row, parts in zip(rows, sections, strict=True)
                                          for s in section_rows(row.id, parts)])
    db.session.commit()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--questions", type=int, default=100)
    args = parser.parse_args()

    from portal import create_app
    from portal.chat import services
    from portal.chat.evaluation import normalised_copy
    from portal.chat.understanding import PriorTurn
    from portal.kb import chunks
    from portal.kb import sentences as kb_sentences
    from portal.kb.documents import load_content
    from portal.kb.engine import get_engine

    workdir = Path(tempfile.mkdtemp(prefix="chat-bench-"))
    source = workdir / "source"
    for part in ("wixqa", "techqa"):
        if (DATA / part / "kb").exists():
            normalised_copy(DATA / part / "kb", source / part)
    articles = load_content(REPO / "content").articles
    for part in ("wixqa", "techqa"):
        articles += load_content(source / part).articles
    rng = random.Random(7)
    filler_dir = workdir / "filler"
    filler_dir.mkdir()
    for index in range(max(0, args.articles - len(articles))):
        (filler_dir / f"filler-{index}.md").write_text(filler(index, rng))
    articles += load_content(filler_dir).articles
    articles = [replace(a, audience="public") if a.audience != "internal" else a for a in articles]

    overrides = {
        "DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}",
        "INSTANCE_DIR": str(REPO / "instance"),
        "MEILI_INDEX_PREFIX": "benchchat",
    }
    for key in ("MEILI_URL", "MEILI_MASTER_KEY"):
        if os.environ.get(key):
            overrides[key] = os.environ[key]
    app = create_app(overrides)
    with app.app_context():
        store_articles(articles)
        started = time.perf_counter()
        # The chunk index keeps its vectors between runs, so only new text is embedded; the
        # sentences' vectors go to this run's database, so they are all embedded.
        for start in range(0, len(articles), 200):
            chunks.index_article_chunks(articles[start : start + 200])
        print(f"KB: {len(articles)} articles indexed in {time.perf_counter() - started:.1f} s")
        engine = get_engine()
        uid = engine.index_name("chunks")
        audiences = ("public",)
        list(services.Responder("warm up", audiences=audiences, history=[]))
        first_piece, follow_up_piece, follow_up_again, raw = [], [], [], []
        for number in range(args.questions):
            question = QUESTIONS[number % len(QUESTIONS)]
            started = time.perf_counter()
            stream = iter(services.Responder(question, audiences=audiences, history=[]))
            next(stream)
            first_piece.append((time.perf_counter() - started) * 1000)
            for _ in stream:
                pass
            started = time.perf_counter()
            engine.call(lambda c, q=question: c.index(uid).search(q, {"limit": 20}))
            raw.append((time.perf_counter() - started) * 1000)
            history = [PriorTurn(question, "question", "answer", "")]
            # Twice: with nothing of the article's sentences in this process's memory (read
            # from the database, where indexing stored them: kb.sentences), then again as
            # the next follow-up on a popular article finds them in memory.
            kb_sentences.forget_remembered()
            for times in (follow_up_piece, follow_up_again):
                started = time.perf_counter()
                stream = iter(services.Responder(FOLLOW_UPS[number % len(FOLLOW_UPS)],
                                                 audiences=audiences, history=history))
                next(stream)
                times.append((time.perf_counter() - started) * 1000)
                for _ in stream:
                    pass

    def pct(values: list[float], p: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))]

    for name, values in (("turn+retrieval+decision+first piece", first_piece),
                         ("follow-up (two readings)+first piece", follow_up_piece),
                         ("same, again (process memory warm)", follow_up_again),
                         ("raw Meilisearch keyword query", raw)):
        print(f"{name}: p50 {pct(values, 0.5):.1f} ms, p95 {pct(values, 0.95):.1f} ms, "
              f"p99 {pct(values, 0.99):.1f} ms")
    print(f"ratio to the raw engine (p50): {pct(first_piece, 0.5) / pct(raw, 0.5):.1f}x")
    print(f"throughput: {1000 / pct(first_piece, 0.5):.0f} replies/s on one thread")
    print(f"peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()

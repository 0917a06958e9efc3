"""Choose how the copilot gathers and orders its candidate articles, two-fold on TechQA dev.

`collect` runs every TechQA dev question through the chat's retrieval (as `portal eval`
does) and keeps, per question, everything the copilot's ordering could read: the chat's
article list and scores, each ticket sentence's cosine to its nearest chunk of every article
of the KB, and the KB's term counts (for keyword scores over the whole KB). `fit` then tries
candidate pools and weights offline (seconds), choosing on one half of the seeded split of
bench/chat_calibrate.py and measuring on the other, both ways.

  .venv/bin/python bench/copilot_calibrate.py collect OUT.json   # minutes
  .venv/bin/python bench/copilot_calibrate.py fit OUT.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.chat_calibrate import DATA, half_of  # noqa: E402
from portal.copilot.ranking import RARE_CODE_ARTICLES, is_code  # noqa: E402
from portal.kb.lexicon import Bm25  # noqa: E402

STAFF = ("public", "customers", "internal")


def _chunk_matrix() -> tuple[np.ndarray, list[str]]:
    """Every chunk's vector and article, read from the index once."""
    from functools import partial

    from portal.kb import chunks
    from portal.kb.engine import get_engine

    vectors, slugs = [], []
    offset = 0
    while True:
        params = {"fields": ["slug", "_vectors"], "retrieveVectors": True, "limit": 1000,
                  "offset": offset}
        page = get_engine().call(partial(chunks._fetch_documents, uid=chunks._index_uid(),
                                         params=params))
        for doc in page.results:
            data = dict(doc)
            entry = data["_vectors"][chunks.EMBEDDER]
            embeddings = entry.get("embeddings") if isinstance(entry, dict) else entry
            vectors.append(embeddings[0] if isinstance(embeddings[0], list) else embeddings)
            slugs.append(data["slug"])
        offset += len(page.results)
        if not page.results or offset >= page.total:
            break
    return np.asarray(vectors, dtype=np.float32), slugs


def collect(out: Path) -> None:
    import click

    from portal import create_app
    from portal.chat.evaluation import load_questions, run_evaluation
    from portal.copilot import ranking
    from portal.kb import chunks
    from portal.kb import services as kb_services

    app = create_app()
    state: dict[str, Any] = {}

    def inspect(question: dict[str, Any], reply: Any) -> dict[str, Any]:
        if "matrix" not in state:
            state["matrix"], state["chunk_slugs"] = _chunk_matrix()
            stats = chunks._corpus_stats()
            state["articles"] = sorted(set(state["chunk_slugs"]))
            state["corpus"] = {"idf": stats.articles.idf,
                               "average_length": stats.articles.average_length,
                               "article_terms": {s: dict(c) for s, c in
                                                 stats.article_terms.items()},
                               "titles": {s: dict(c) for s, c in stats.title_terms.items()}}
        text = question["question"]
        sentences = ranking.ticket_sentences(text)
        vectors = kb_services.embed_texts([text, *sentences])
        cosines = vectors @ state["matrix"].T
        per_article: dict[str, list[float]] = {}
        for column, slug in enumerate(state["chunk_slugs"]):
            best = per_article.setdefault(slug, [-1.0] * len(vectors))
            for row in range(len(vectors)):
                if cosines[row, column] > best[row]:
                    best[row] = float(cosines[row, column])
        retrieval = reply.retrieval
        return {
            "chat": [[s.slug, round(s.score, 5)] for s in (retrieval.sources if retrieval
                                                           else [])],
            "sentences": sentences,
            # [whole text, sentence 1, ...] per article
            "cosines": {slug: [round(c, 4) for c in values]
                        for slug, values in per_article.items()},
        }

    with app.app_context():
        questions = load_questions(DATA / "techqa" / "questions-dev.jsonl")

        def bar(items: Iterable[Any]) -> Any:
            return click.progressbar(items, label="techqa", file=sys.stderr)

        report = run_evaluation(app, DATA / "techqa" / "kb", questions, progress=bar,
                                inspect=inspect)
    out.write_text(json.dumps({"rows": report["rows"], "corpus": state.get("corpus")}),
                   encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("collect", "fit"))
    parser.add_argument("path", type=Path)
    args = parser.parse_args()
    if args.command == "collect":
        collect(args.path)
    else:
        fit(args.path)



# --- offline: candidate pools and orderings ------------------------------------------


def _bm25(query_terms: set[str], counts: dict[str, int], idf: dict[str, float],
          average_length: float) -> float:
    return Bm25(idf, average_length).score(query_terms, Counter(counts))


def _code_share(codes: set[str], counts: dict[str, int],
                holders: dict[str, int]) -> float:
    """The share of the ticket's rare codes (held by at most RARE_CODE_ARTICLES articles)
    the article holds."""
    rare = {w for w in codes if 0 < holders.get(w, 0) <= RARE_CODE_ARTICLES}
    return sum(w in counts for w in rare) / len(rare) if rare else 0.0


def prepare(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Per graded question: each article's signals."""
    from portal.kb.lexicon import terms

    corpus = data["corpus"]
    texts = {}
    for line in (DATA / "techqa" / "questions-dev.jsonl").read_text().splitlines():
        if line.strip():
            question = json.loads(line)
            texts[question["id"]] = question["question"]
    idf, average = corpus["idf"], corpus["average_length"]
    holders: dict[str, int] = {}
    for counts in corpus["article_terms"].values():
        for word in counts:
            if is_code(word):
                holders[word] = holders.get(word, 0) + 1
    prepared = []
    for row in data["rows"]:
        if not (row["answerable"] and row["gold_slugs"] and "cosines" in row):
            continue
        chat = row["chat"]
        chat_rank = {slug: k + 1 for k, (slug, _) in enumerate(chat)}
        chat_score = {slug: score for slug, score in chat}
        words = set(terms(texts[row["id"]]))
        codes = {w for w in words if is_code(w)}
        ranked_words = sorted(words, key=lambda w: -idf.get(w, max(idf.values())))
        articles = {}
        for slug, cos in row["cosines"].items():
            sentences = sorted(cos[1:], reverse=True) or [cos[0]]
            articles[slug] = {
                "chat_rank": chat_rank.get(slug), "chat_score": chat_score.get(slug),
                "whole": cos[0], "sentences": cos[1:] or [cos[0]],
                "close3": sum(sentences[:3]) / len(sentences[:3]),
                "close1": sentences[0],
                "bm25": _bm25(words, corpus["article_terms"].get(slug, {}), idf, average),
                "bm25_rare": _bm25(set(ranked_words[:8]), corpus["article_terms"].get(slug, {}),
                                   idf, average),
                "code": _code_share(codes, corpus["article_terms"].get(slug, {}), holders),
            }
        prepared.append({"id": row["id"], "gold": set(row["gold_slugs"]), "chat": chat,
                         "articles": articles, "baseline": row.get("copilot_suggested", [])})
    return prepared


def _rank_of(values: dict[str, float]) -> dict[str, int]:
    return {slug: k + 1 for k, slug in enumerate(sorted(values, key=lambda s: -values[s]))}


def order(q: dict[str, Any], p: dict[str, float]) -> list[str]:
    """The copilot's order for one question under parameters `p`."""
    arts = q["articles"]
    pool = {slug for slug, _ in q["chat"][: int(p["chat_pool"])]}
    if p.get("sentence_pool"):
        n_sent = len(next(iter(arts.values()))["sentences"])
        for i in range(n_sent):
            best = sorted(arts, key=lambda s: -arts[s]["sentences"][i])[: int(p["sentence_pool"])]
            pool.update(best)
    if p.get("bm25_pool"):
        pool.update(sorted(arts, key=lambda s: -arts[s]["bm25_rare"])[: int(p["bm25_pool"])])
    if p.get("code_pool"):
        coded = [s for s in arts if arts[s]["code"] > 0]
        pool.update(sorted(coded, key=lambda s: -arts[s]["code"])[: int(p["code_pool"])])
    if p.get("close_pool"):
        pool.update(sorted(arts, key=lambda s: -arts[s]["close3"])[: int(p["close_pool"])])
    pool = {s for s in pool if s in arts}
    floor = min((sc for _, sc in q["chat"]), default=0.0)
    if p.get("rrf"):
        lists = {
            "chat": {s: -(arts[s]["chat_rank"] or 999) for s in pool},
            "close": {s: arts[s]["close3"] for s in pool},
            "bm25": {s: arts[s]["bm25_rare"] for s in pool},
        }
        ranks = {name: _rank_of(v) for name, v in lists.items()}
        score = {s: sum(p.get(f"rrf_{name}", 1.0) / (p["rrf"] + ranks[name][s])
                        for name in lists) for s in pool}
    else:
        score = {s: (arts[s]["chat_score"] if arts[s]["chat_score"] is not None else floor)
                 + p["w_close"] * arts[s][p.get("close", "close3")]
                 + p.get("w_bm25", 0.0) * arts[s][p.get("bm25", "bm25_rare")]
                 + p.get("w_code", 0.0) * arts[s]["code"] for s in pool}
    return sorted(pool, key=lambda s: (-score[s], s))


def evaluate(questions: list[dict[str, Any]], p: dict[str, float]) -> tuple[int, float]:
    hits, rr = 0, 0.0
    for q in questions:
        ranked = order(q, p)
        hits += bool(q["gold"] & set(ranked[:3]))
        rank = next((k + 1 for k, s in enumerate(ranked) if s in q["gold"]), None)
        rr += 1 / rank if rank else 0.0
    return hits, rr / max(len(questions), 1)


def grid(family: dict[str, list[float]]) -> list[dict[str, float]]:
    import itertools

    names = list(family)
    return [dict(zip(names, values, strict=True)) for values in
            itertools.product(*(family[n] for n in names))]


FAMILIES: dict[str, dict[str, list[float]]] = {
    "shipped (chat top 10 + 8 x closeness)": {"chat_pool": [10], "w_close": [8.0]},
    "closeness weight, chat top 10": {"chat_pool": [10], "w_close": [2, 4, 6, 8, 10, 12, 16]},
    "wider chat pool": {"chat_pool": [10, 20, 30, 50], "w_close": [4, 6, 8, 10, 12, 16]},
    "+ per-sentence pool": {"chat_pool": [10, 30], "sentence_pool": [1, 2, 3, 5],
                            "w_close": [4, 6, 8, 10, 12, 16]},
    "+ bm25 pool and weight": {"chat_pool": [10, 30], "bm25_pool": [0, 3, 5, 10],
                               "w_close": [4, 8, 12], "w_bm25": [0, 0.5, 1, 2, 4]},
    "+ rare codes (shipped: 10, 3, 8, 1)": {
        "chat_pool": [10, 30], "code_pool": [0, 3], "w_close": [8],
        "w_code": [0, 0.1, 0.2, 0.4, 0.8, 1.0, 1.6, 3.2, 6.4]},
    "+ full bm25": {"chat_pool": [10, 30], "w_close": [6, 8, 10], "bm25": ["bm25"],
                    "w_bm25": [0, 0.1, 0.2, 0.4, 0.8, 1.6]},
    "+ closeness pool": {"chat_pool": [10, 30], "close_pool": [3, 5, 10, 20],
                         "w_close": [4, 6, 8, 10, 12, 16]},
    "best sentence instead of three": {"chat_pool": [10, 30], "close": ["close1"],
                                       "w_close": [4, 6, 8, 10, 12, 16]},
    "reciprocal rank fusion": {"chat_pool": [10, 30, 50], "sentence_pool": [0, 3],
                               "rrf": [5, 20, 60], "rrf_close": [0.5, 1, 2],
                               "rrf_bm25": [0, 0.5, 1]},
}


def fit(path: Path) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    halves = half_of([r["id"] for r in data["rows"]])
    questions = prepare(data)
    part = {h: [q for q in questions if halves[q["id"]] == h] for h in "AB"}
    baseline = sum(bool(q["gold"] & set(q["baseline"][:3])) for q in questions)
    print(f"{len(questions)} graded; as collected (portal eval's copilot): {baseline}")
    for name, family in FAMILIES.items():
        candidates = grid(family)
        line = [f"{name}:"]
        held = 0
        for train, test in (("A", "B"), ("B", "A")):
            scored = [(evaluate(part[train], p), p) for p in candidates]
            best = max(s for s, _ in scored)
            chosen = next(p for s, p in scored if s == best)
            out = evaluate(part[test], chosen)[0]
            held += out
            line.append(f"chosen on {train} {best[0]}/{len(part[train])} {chosen} -> "
                        f"{test} {out}/{len(part[test])}")
        whole = max(candidates, key=lambda p: evaluate(questions, p))
        line.append(f"held-out total {held}/{len(questions)} = {held / len(questions):.3f}; "
                    f"best in-sample {evaluate(questions, whole)[0]}/{len(questions)} {whole}")
        print("\n  ".join(line))
    # A weight is chosen as the middle of the range that ranks best on a half (the rule the
    # sentence weight was chosen by), so the sweep is printed half by half.
    for weight in (0, 0.2, 0.4, 0.8, 1.0, 1.6, 3.2, 6.4):
        shipped = {"chat_pool": 10, "code_pool": 3, "w_close": 8, "w_code": weight}
        print(f"code weight {weight}: " + ", ".join(
            f"half {h} {evaluate(part[h], shipped)[0]}/{len(part[h])}" for h in "AB"))


if __name__ == "__main__":
    main()

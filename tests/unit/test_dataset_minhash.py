"""MinHash near-duplicate detection in numpy."""

from __future__ import annotations

import numpy as np

from data.pipeline.minhash import MinHasher, near_duplicates
from data.pipeline.text import char_shingles, jaccard


def test_signature_estimates_jaccard() -> None:
    a = char_shingles("Como reduzir o ACOS sem perder vendas nas campanhas do Mercado Livre?")
    b = char_shingles("Como reduzir o ACOS sem perder vendas nas campanhas da Amazon?")
    hasher = MinHasher(num_perm=256)
    estimate = float(np.mean(hasher.signature(a) == hasher.signature(b)))
    assert abs(estimate - jaccard(a, b)) < 0.1
    assert np.array_equal(MinHasher().signature(a), MinHasher().signature(a))


def test_near_duplicates_within_and_across() -> None:
    texts = [
        "Qual a diferença entre ACOS e ROAS?",
        "qual a diferenca entre acos e roas",
        "O que é TACoS e quando usar?",
    ]
    pairs = near_duplicates(texts)
    assert [(p.left, p.right) for p in pairs] == [(0, 1)]
    assert pairs[0].similarity > 0.95  # accents and case are normalised away
    across = near_duplicates(texts[2:], texts[:2])
    assert across == []
    across = near_duplicates(["Como funciona o TACoS?"], ["Como funciona o TACoS ?", "Oi"])
    assert [(p.left, p.right) for p in across] == [(0, 0)]

"""Small stand-ins for retrieval tests: a hashing embedder and hand-made articles."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from data.pipeline.models import Article, FaqEntry
from workers.inference.lexical import terms


class HashingEmbedder:
    """Bag of words hashed into 64 dimensions: texts sharing words get a high cosine."""

    model_id = "hashing-64"
    dim = 64

    def __init__(self) -> None:
        self.embedded = 0

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.embedded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for term in terms(text):
                out[row, int(hashlib.md5(term.encode()).hexdigest(), 16) % self.dim] += 1.0
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm else out[row]
        return out


def article(article_id: str, title: str, body: str, *, faq: str = "O que é isso?") -> Article:
    return Article(
        id=article_id,
        title=title,
        category="metricas",
        difficulty="basico",
        faq=[FaqEntry(type="concept", q=faq, a=f"{title}: resposta curta.")],
        body=body,
        path=Path(f"data/corpus/metricas/{article_id}.md"),
        content_hash=hashlib.sha256(body.encode()).hexdigest(),
    )


ACOS = article(
    "metricas-acos",
    "ACOS: custo de publicidade sobre a venda",
    "# ACOS\n\nO ACOS divide o investimento em anúncios pela receita atribuída.\n\n"
    "## Exemplo\n\nInvestimento de R$ 500 e receita de R$ 2.000 dão ACOS de 25%.",
    faq="Como calcular o ACOS?",
)
ROAS = article(
    "metricas-roas",
    "ROAS: retorno sobre o investimento em anúncios",
    "# ROAS\n\nO ROAS divide a receita dos anúncios pelo investimento em mídia.",
    faq="O que é ROAS?",
)
FRETE = article(
    "catalogo-frete",
    "Frete grátis e preço competitivo",
    "# Frete\n\nFrete grátis melhora a conversão do anúncio no marketplace.",
    faq="Frete grátis vale a pena?",
)

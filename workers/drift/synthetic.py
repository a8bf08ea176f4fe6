"""Generated query-log traffic with known change points, for the drift benchmark and tests.

Questions are drawn from Portuguese templates per topic; latency is log-normal, time to first
token a fraction of it, answer length Poisson-like; feedback is thumbs-down with probability
`negative_rate`. A `Regime` fixes all of it, so a change point is a change of regime.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, replace

from schemas.query import FeedbackSubmitted, QueryCompleted, RetrievedRef

PLATFORMS = ("Mercado Livre", "Amazon", "Shopee", "Magalu")
PRODUCTS = ("fone bluetooth", "tênis de corrida", "air fryer", "cadeira gamer", "kit de maquiagem")

TOPICS: dict[str, tuple[str, ...]] = {
    "metricas": (
        "Como calcular o ACOS com gasto de R$ {n} e vendas de R$ {m}?",
        "Qual a diferença entre ACOS e ROAS no {p}?",
        "O que significa um ROAS de {x} para o meu {q}?",
        "Meu CPC está em R$ {x}, isso é caro para {q}?",
        "Como interpretar um CTR de {x}% nos anúncios do {p}?",
        "O que é TACoS e como ele se relaciona com o ACOS?",
        "Como calcular a taxa de conversão com {n} cliques e {k} vendas?",
        "Qual ACOS de equilíbrio para uma margem de {k}%?",
    ),
    "lances": (
        "Devo usar lance manual ou automático no {p}?",
        "Quanto aumentar o lance do {q} para ganhar posição?",
        "Como distribuir um orçamento diário de R$ {n} entre campanhas?",
        "Vale a pena ajustar o lance por posição no topo da busca do {p}?",
        "Como definir o lance a partir de um ACOS alvo de {k}%?",
        "Meu orçamento acaba antes do meio-dia, o que fazer?",
    ),
    "palavras": (
        "Como encontrar palavras-chave de cauda longa para {q}?",
        "Quando negativar um termo de busca no {p}?",
        "Qual a diferença entre correspondência ampla, de frase e exata?",
        "Como ler o relatório de termos de pesquisa do {p}?",
        "Quais palavras negativas usar para {q}?",
    ),
    "sazonalidade": (
        "Como preparar as campanhas de {q} para a Black Friday?",
        "Quanto aumentar o orçamento no Natal no {p}?",
        "O que fazer com os anúncios depois do pico de vendas do Dia das Mães?",
        "Quando começar a campanha de fim de ano no {p}?",
        "Como montar um calendário promocional anual para {q}?",
        "Vale a pena manter os lances altos em janeiro depois das festas?",
    ),
    "logistica": (
        "Como funciona o frete grátis no {p} para {q}?",
        "Meu pedido de {q} atrasou na transportadora, como resolvo?",
        "Qual o prazo de devolução de um {q} comprado no {p}?",
        "Como emitir nota fiscal para envios pelo {p}?",
        "O estoque no centro de distribuição do {p} vale a pena?",
        "Como reduzir o custo de envio de produtos pesados?",
    ),
}


@dataclass(frozen=True)
class Regime:
    """The traffic's distribution: question topics, timings, answer length, feedback."""

    topics: tuple[str, ...] = ("metricas", "lances", "palavras")
    latency_ms: float = 1200.0
    latency_sigma: float = 0.25
    ttft_fraction: float = 0.15
    answer_tokens: float = 120.0
    retrieval_score: float = 0.72
    negative_rate: float = 0.1
    model: str = "gemma3-270m"

    def shifted(self, **changes: object) -> Regime:
        return replace(self, **changes)  # type: ignore[arg-type]


OPENERS = ("", "", "", "Oi, ", "Olá! ", "Uma dúvida: ", "Por favor, ", "Me ajuda: ")
CLOSERS = ("", "", "", " Obrigado!", " Estou começando agora.", " É para a minha loja.")


def question(rng: random.Random, topic: str) -> str:
    template = rng.choice(OPENERS) + rng.choice(TOPICS[topic]) + rng.choice(CLOSERS)
    return template.format(
        n=rng.randint(50, 5000),
        m=rng.randint(500, 50000),
        k=rng.randint(2, 60),
        x=f"{rng.uniform(0.2, 9.9):.2f}".replace(".", ","),
        p=rng.choice(PLATFORMS),
        q=rng.choice(PRODUCTS),
    )


def completed(rng: random.Random, regime: Regime, query_id: str) -> QueryCompleted:
    """One query-log record drawn from the regime."""
    latency = regime.latency_ms * math.exp(rng.gauss(0.0, regime.latency_sigma))
    ttft = latency * regime.ttft_fraction * math.exp(rng.gauss(0.0, 0.2))
    tokens = max(1, round(rng.gauss(regime.answer_tokens, math.sqrt(regime.answer_tokens) * 3)))
    score = min(1.0, max(0.0, rng.gauss(regime.retrieval_score, 0.06)))
    return QueryCompleted(
        query_id=query_id,
        user_id=f"u{rng.randint(1, 500)}",
        tier=rng.choice(("free", "free", "premium")),
        question=question(rng, rng.choice(regime.topics)),
        answer="resposta " * 4,
        model=regime.model,
        worker_id="synthetic",
        finish_reason="stop",
        latency_ms=latency,
        ttft_ms=min(ttft, latency),
        prompt_tokens=rng.randint(40, 400),
        completion_tokens=tokens,
        retrieved=[RetrievedRef(article_id="a", score=score)],
    )


def feedback(rng: random.Random, regime: Regime, query_id: str) -> FeedbackSubmitted:
    return FeedbackSubmitted(
        query_id=query_id, rating=-1 if rng.random() < regime.negative_rate else 1
    )


def traffic(
    regime: Regime, n: int, *, seed: int, prefix: str = "q", start: int = 0
) -> Iterator[QueryCompleted]:
    """n query-log records of one regime, with query ids prefix-start.. ."""
    rng = random.Random(seed)
    for i in range(start, start + n):
        yield completed(rng, regime, f"{prefix}-{i}")

"""Number ranges and worked answers for traffic and sales exercises (ACOS to ticket médio)."""

from __future__ import annotations

import random
from collections.abc import Mapping

from data.pipeline import formulas as f
from data.pipeline.exercises import Solution, Values, worked_answer
from data.pipeline.numfmt import money, number, percent

V = Mapping[str, float]


def cash(rng: random.Random, lo: int, hi: int, step: int = 10) -> float:
    """Draw a whole amount in reais between lo and hi, on a step grid."""
    return float(rng.randrange(lo, hi + 1, step))


def acos_sample(rng: random.Random) -> Values:
    """Draw investimento and receita dos anúncios (also used for ROAS)."""
    inv = cash(rng, 100, 5000)
    return {"investimento": inv, "receita": round(inv * 100 / rng.uniform(5, 60), -1)}


def acos_solve(v: V) -> Solution:
    """Solve ACOS = investimento / receita × 100."""
    r = f.acos(v["investimento"], v["receita"])
    shown = percent(r)
    return Solution(
        r,
        shown,
        worked_answer(
            "O ACOS é a porcentagem da receita dos anúncios que foi gasta com a própria mídia.",
            "ACOS = investimento / receita dos anúncios × 100",
            f"ACOS = {money(v['investimento'])} / {money(v['receita'])} × 100",
            f"ACOS = {shown}",
            f"Ou seja, a cada R$ 100,00 vendidos pelos anúncios, {money(r)} foram gastos com "
            "mídia.",
        ),
    )


def roas_solve(v: V) -> Solution:
    """Solve ROAS = receita / investimento."""
    r = f.roas(v["receita"], v["investimento"])
    shown = number(r)
    return Solution(
        r,
        shown,
        worked_answer(
            "O ROAS mostra quantos reais de venda os anúncios trouxeram para cada real investido.",
            "ROAS = receita dos anúncios / investimento",
            f"ROAS = {money(v['receita'])} / {money(v['investimento'])}",
            f"ROAS = {shown}",
            f"Cada R$ 1,00 investido trouxe {money(r)} em vendas atribuídas. O ACOS equivalente é "
            f"{percent(f.acos(v['investimento'], v['receita']))} (100 / ROAS).",
        ),
    )


def tacos_sample(rng: random.Random) -> Values:
    """Draw investimento plus ads, organic and total revenue."""
    inv = cash(rng, 200, 6000)
    ads = round(inv * 100 / rng.uniform(10, 40), -1)
    organic = round(ads * rng.uniform(0.5, 3.0), -1)
    return {
        "investimento": inv,
        "receita_anuncios": ads,
        "receita_organica": organic,
        "receita_total": ads + organic,
    }


def tacos_solve(v: V) -> Solution:
    """Solve TACoS = investimento / receita total × 100."""
    intro = "O TACoS compara o investimento em anúncios com toda a receita da loja."
    if "receita_total" in v:
        total = v["receita_total"]
    else:
        total = v["receita_anuncios"] + v["receita_organica"]
        intro += (
            f" Primeiro some as vendas dos anúncios e as orgânicas: "
            f"{money(v['receita_anuncios'])} + {money(v['receita_organica'])} = "
            f"{money(total)} de receita total."
        )
    r = f.tacos(v["investimento"], total)
    shown = percent(r)
    return Solution(
        r,
        shown,
        worked_answer(
            intro,
            "TACoS = investimento / receita total × 100",
            f"TACoS = {money(v['investimento'])} / {money(total)} × 100",
            f"TACoS = {shown}",
            "Quando o TACoS cai ao longo do tempo, as vendas totais (incluindo as orgânicas) estão "
            "crescendo mais rápido que o investimento em mídia.",
        ),
    )


def cpc_sample(rng: random.Random) -> Values:
    """Draw investimento and cliques."""
    inv = cash(rng, 50, 3000, 5)
    return {"investimento": inv, "cliques": float(max(10, round(inv / rng.uniform(0.3, 4.0))))}


def cpc_solve(v: V) -> Solution:
    """Solve CPC = investimento / cliques."""
    r = f.cpc(v["investimento"], v["cliques"])
    shown = money(r)
    return Solution(
        r,
        shown,
        worked_answer(
            "O CPC é o custo médio de cada clique recebido pelo anúncio.",
            "CPC = investimento / cliques",
            f"CPC = {money(v['investimento'])} / {number(v['cliques'])}",
            f"CPC = {shown}",
            f"Em média, cada clique custou {shown}; o valor de cada clique varia conforme o "
            "leilão.",
        ),
    )


def cpm_sample(rng: random.Random) -> Values:
    """Draw investimento and impressões."""
    inv = cash(rng, 50, 3000)
    return {"investimento": inv, "impressoes": round(inv / rng.uniform(5, 40) * 1000, -2)}


def cpm_solve(v: V) -> Solution:
    """Solve CPM = investimento / impressões × 1000."""
    r = f.cpm(v["investimento"], v["impressoes"])
    shown = money(r)
    return Solution(
        r,
        shown,
        worked_answer(
            "O CPM é o custo de mil impressões do anúncio.",
            "CPM = investimento / impressões × 1000",
            f"CPM = {money(v['investimento'])} / {number(v['impressoes'])} × 1000",
            f"CPM = {shown}",
            f"Ou seja, cada mil exibições do anúncio custaram {shown}.",
        ),
    )


def ctr_sample(rng: random.Random) -> Values:
    """Draw impressões and cliques."""
    imp = cash(rng, 5000, 200000, 100)
    return {"impressoes": imp, "cliques": float(max(5, round(imp * rng.uniform(0.2, 3) / 100)))}


def ctr_solve(v: V) -> Solution:
    """Solve CTR = cliques / impressões × 100."""
    r = f.ctr(v["cliques"], v["impressoes"])
    shown = percent(r)
    return Solution(
        r,
        shown,
        worked_answer(
            "A CTR (taxa de cliques) mostra quantas impressões viraram cliques.",
            "CTR = cliques / impressões × 100",
            f"CTR = {number(v['cliques'])} / {number(v['impressoes'])} × 100",
            f"CTR = {shown}",
            f"De cada 100 exibições do anúncio, {number(r)} viraram cliques.",
        ),
    )


def conv_sample(rng: random.Random) -> Values:
    """Draw cliques and pedidos."""
    clicks = cash(rng, 100, 5000, 1)
    return {"cliques": clicks, "pedidos": float(max(1, round(clicks * rng.uniform(1, 15) / 100)))}


def conv_solve(v: V) -> Solution:
    """Solve conversão = pedidos / cliques × 100."""
    r = f.conversao(v["pedidos"], v["cliques"])
    shown = percent(r)
    return Solution(
        r,
        shown,
        worked_answer(
            "A taxa de conversão mostra quantos cliques viraram pedidos.",
            "taxa de conversão = pedidos / cliques × 100",
            f"taxa de conversão = {number(v['pedidos'])} / {number(v['cliques'])} × 100",
            f"taxa de conversão = {shown}",
            f"De cada 100 cliques, {number(r)} viraram pedidos.",
        ),
    )


def ticket_sample(rng: random.Random) -> Values:
    """Draw pedidos and receita."""
    orders = cash(rng, 10, 500, 1)
    return {"pedidos": orders, "receita": round(orders * rng.uniform(30, 600), 2)}


def ticket_solve(v: V) -> Solution:
    """Solve ticket médio = receita / pedidos."""
    r = f.ticket_medio(v["receita"], v["pedidos"])
    shown = money(r)
    return Solution(
        r,
        shown,
        worked_answer(
            "O ticket médio é o valor médio de cada pedido.",
            "ticket médio = receita / pedidos",
            f"ticket médio = {money(v['receita'])} / {number(v['pedidos'])}",
            f"ticket médio = {shown}",
            f"Em média, cada pedido rendeu {shown}.",
        ),
    )

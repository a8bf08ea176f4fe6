"""Question templates, number ranges and worked answers for each metric's exercises."""

from __future__ import annotations

import random
from collections.abc import Mapping

from data.pipeline import formulas as f
from data.pipeline.exercises import Solution, Values, worked_answer
from data.pipeline.numfmt import money, number, percent, rounded

V = Mapping[str, float]


def _cash(rng: random.Random, lo: int, hi: int, step: int = 10) -> float:
    return float(rng.randrange(lo, hi + 1, step))


def _acos_sample(rng: random.Random) -> Values:
    inv = _cash(rng, 100, 5000)
    return {"investimento": inv, "receita": round(inv * 100 / rng.uniform(5, 60), -1)}


def _acos_solve(v: V) -> Solution:
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
            f"Ou seja, a cada R$ 100,00 vendidos pelos anúncios, {money(r)} foram gastos com mídia.",
        ),
    )


def _roas_solve(v: V) -> Solution:
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


def _tacos_sample(rng: random.Random) -> Values:
    inv = _cash(rng, 200, 6000)
    ads = round(inv * 100 / rng.uniform(10, 40), -1)
    organic = round(ads * rng.uniform(0.5, 3.0), -1)
    return {
        "investimento": inv,
        "receita_anuncios": ads,
        "receita_organica": organic,
        "receita_total": ads + organic,
    }


def _tacos_solve(v: V) -> Solution:
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


def _cpc_sample(rng: random.Random) -> Values:
    inv = _cash(rng, 50, 3000, 5)
    return {"investimento": inv, "cliques": float(max(10, round(inv / rng.uniform(0.3, 4.0))))}


def _cpc_solve(v: V) -> Solution:
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
            f"Em média, cada clique custou {shown}; o valor de cada clique varia conforme o leilão.",
        ),
    )


def _cpm_sample(rng: random.Random) -> Values:
    inv = _cash(rng, 50, 3000)
    return {"investimento": inv, "impressoes": round(inv / rng.uniform(5, 40) * 1000, -2)}


def _cpm_solve(v: V) -> Solution:
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


def _ctr_sample(rng: random.Random) -> Values:
    imp = _cash(rng, 5000, 200000, 100)
    return {"impressoes": imp, "cliques": float(max(5, round(imp * rng.uniform(0.2, 3) / 100)))}


def _ctr_solve(v: V) -> Solution:
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


def _conv_sample(rng: random.Random) -> Values:
    clicks = _cash(rng, 100, 5000, 1)
    return {"cliques": clicks, "pedidos": float(max(1, round(clicks * rng.uniform(1, 15) / 100)))}


def _conv_solve(v: V) -> Solution:
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


def _ticket_sample(rng: random.Random) -> Values:
    orders = _cash(rng, 10, 500, 1)
    return {"pedidos": orders, "receita": round(orders * rng.uniform(30, 600), 2)}


def _ticket_solve(v: V) -> Solution:
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


def _margin_sample(rng: random.Random) -> Values:
    price = _cash(rng, 40, 800, 1) + rng.choice((0.0, 0.9))
    values = {
        "preco": price,
        "custo_produto": round(price * rng.uniform(0.3, 0.5), 2),
        "comissao": float(rng.choice((11, 12, 13, 14, 16, 17, 18))),
        "imposto": float(rng.choice((4, 6, 8, 10))),
        "frete": round(rng.uniform(0, 20), 2),
    }
    values["custos"] = _variable_costs(values)[0]
    return values


def _variable_costs(v: V) -> tuple[float, str]:
    """Return the total variable cost and, for itemized questions, how it adds up."""
    if "custos" in v:
        return v["custos"], ""
    fee = rounded(v["preco"] * v["comissao"] / 100)
    tax = rounded(v["preco"] * v["imposto"] / 100)
    total = rounded(v["custo_produto"] + fee + tax + v["frete"])
    return total, (
        f" Primeiro some os custos variáveis: produto {money(v['custo_produto'])} + "
        f"comissão {money(fee)} ({percent(v['comissao'])} de {money(v['preco'])}) + "
        f"imposto {money(tax)} ({percent(v['imposto'])}) + frete {money(v['frete'])} = "
        f"{money(total)}."
    )


def _margin_solve(v: V, *, break_even: bool) -> Solution:
    costs, steps = _variable_costs(v)
    r = f.margem_contribuicao(v["preco"], costs)
    shown = percent(r)
    name = "ACOS de equilíbrio" if break_even else "margem de contribuição"
    intro = (
        "O ACOS de equilíbrio é igual à margem de contribuição antes dos anúncios."
        if break_even
        else "A margem de contribuição é o que sobra do preço depois dos "
        "custos variáveis, em porcentagem do preço."
    )
    formula = "(preço − custos variáveis) / preço × 100"
    formula = (
        f"ACOS de equilíbrio = margem de contribuição = {formula}"
        if break_even
        else (f"margem de contribuição = {formula}")
    )
    closing = (
        f"Com ACOS abaixo de {shown} a venda anunciada dá lucro; acima disso, dá prejuízo."
        if break_even
        else f"Com essa margem, o ACOS de equilíbrio do produto é {shown}."
    )
    return Solution(
        r,
        shown,
        worked_answer(
            intro + steps,
            formula,
            f"{name} = ({money(v['preco'])} − {money(costs)}) / {money(v['preco'])} × 100",
            f"{name} = {shown}",
            closing,
        ),
    )


def _roi_sample(rng: random.Random) -> Values:
    revenue = _cash(rng, 1000, 50000, 50)
    return {
        "receita": revenue,
        "margem": float(rng.randrange(15, 46)),
        "investimento": round(revenue * rng.uniform(5, 40) / 100, -1),
    }


def _roi_solve(v: V) -> Solution:
    rec, m, inv = v["receita"], v["margem"], v["investimento"]
    gross = rounded(rec * m / 100)
    r = f.roi(rec, m, inv)
    shown = percent(r)
    closing = (
        f"O ROI positivo indica que a campanha pagou a mídia e ainda deixou "
        f"{money(gross - inv)} de lucro de contribuição."
        if r >= 0
        else f"O ROI negativo indica prejuízo: a margem gerada ({money(gross)}) não cobriu o "
        f"investimento de {money(inv)}."
    )
    return Solution(
        r,
        shown,
        worked_answer(
            f"O ROI considera o lucro, não a receita: a margem gerada pelas vendas é "
            f"{money(rec)} × {percent(m)} = {money(gross)}.",
            "ROI = (receita × margem − investimento) / investimento × 100",
            f"ROI = ({money(gross)} − {money(inv)}) / {money(inv)} × 100",
            f"ROI = {shown}",
            closing,
        ),
    )


def _bid_sample(rng: random.Random) -> Values:
    return {
        "ticket": _cash(rng, 30, 500, 1) + rng.choice((0.0, 0.9)),
        "conversao": rng.randrange(10, 121) / 10,
        "acos_alvo": float(rng.randrange(8, 36)),
    }


def _bid_solve(v: V) -> Solution:
    t, c, a = v["ticket"], v["conversao"], v["acos_alvo"]
    r = f.cpc_maximo(t, c, a)
    shown = money(r)
    return Solution(
        r,
        shown,
        worked_answer(
            "O CPC máximo é o lance que mantém o ACOS no alvo, dado o ticket e a conversão.",
            "CPC máximo = ticket médio × taxa de conversão × ACOS alvo",
            f"CPC máximo = {money(t)} × {percent(c)} × {percent(a)} = "
            f"{money(t)} × {number(c / 100, 4)} × {number(a / 100, 4)}",
            f"CPC máximo = {shown}",
            f"Pagando até {shown} por clique, o ACOS tende a ficar em {percent(a)} enquanto a "
            "conversão e o ticket se mantiverem.",
        ),
    )


def _ltv_sample(rng: random.Random) -> Values:
    return {"ticket": _cash(rng, 40, 400, 1), "compras": rng.randrange(12, 61) / 10}


def _ltv_solve(v: V) -> Solution:
    r = f.ltv(v["ticket"], v["compras"])
    shown = money(r)
    return Solution(
        r,
        shown,
        worked_answer(
            "O LTV é o faturamento esperado de um cliente ao longo de todo o relacionamento.",
            "LTV = ticket médio × compras por cliente",
            f"LTV = {money(v['ticket'])} × {number(v['compras'])}",
            f"LTV = {shown}",
            "Compare o LTV com o CAC para saber quanto vale a pena investir para conquistar um "
            "cliente.",
        ),
    )


def _cac_sample(rng: random.Random) -> Values:
    return {"investimento": _cash(rng, 500, 20000, 50), "novos_clientes": _cash(rng, 10, 600, 1)}


def _cac_solve(v: V) -> Solution:
    r = f.cac(v["investimento"], v["novos_clientes"])
    shown = money(r)
    return Solution(
        r,
        shown,
        worked_answer(
            "O CAC é quanto custou, em média, conquistar cada cliente novo.",
            "CAC = investimento / novos clientes",
            f"CAC = {money(v['investimento'])} / {number(v['novos_clientes'])}",
            f"CAC = {shown}",
            f"Cada cliente novo custou {shown} em mídia; o CAC precisa ficar bem abaixo do LTV.",
        ),
    )

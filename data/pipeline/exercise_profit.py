"""Number ranges and worked answers for profit exercises (margem, ROI, CPC máximo, LTV, CAC)."""

from __future__ import annotations

import random
from collections.abc import Mapping

from data.pipeline import formulas as f
from data.pipeline.exercise_traffic import cash
from data.pipeline.exercises import Solution, Values, worked_answer
from data.pipeline.numfmt import money, number, percent, rounded

V = Mapping[str, float]


def margin_sample(rng: random.Random) -> Values:
    """Draw a price and itemised variable costs (and their total)."""
    price = cash(rng, 40, 800, 1) + rng.choice((0.0, 0.9))
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


def margin_solve(v: V, *, break_even: bool) -> Solution:
    """Solve the contribution margin, or the break-even ACOS that equals it."""
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


def roi_sample(rng: random.Random) -> Values:
    """Draw receita, margem and investimento."""
    revenue = cash(rng, 1000, 50000, 50)
    return {
        "receita": revenue,
        "margem": float(rng.randrange(15, 46)),
        "investimento": round(revenue * rng.uniform(5, 40) / 100, -1),
    }


def roi_solve(v: V) -> Solution:
    """Solve ROI = (receita × margem − investimento) / investimento × 100."""
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


def bid_sample(rng: random.Random) -> Values:
    """Draw ticket, conversão and ACOS alvo."""
    return {
        "ticket": cash(rng, 30, 500, 1) + rng.choice((0.0, 0.9)),
        "conversao": rng.randrange(10, 121) / 10,
        "acos_alvo": float(rng.randrange(8, 36)),
    }


def bid_solve(v: V) -> Solution:
    """Solve CPC máximo = ticket × conversão × ACOS alvo."""
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


def ltv_sample(rng: random.Random) -> Values:
    """Draw ticket and compras por cliente."""
    return {"ticket": cash(rng, 40, 400, 1), "compras": rng.randrange(12, 61) / 10}


def ltv_solve(v: V) -> Solution:
    """Solve LTV = ticket médio × compras por cliente."""
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


def cac_sample(rng: random.Random) -> Values:
    """Draw investimento and novos clientes."""
    return {"investimento": cash(rng, 500, 20000, 50), "novos_clientes": cash(rng, 10, 600, 1)}


def cac_solve(v: V) -> Solution:
    """Solve CAC = investimento / novos clientes."""
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

"""Computed exercises: the numbers in the generated answers follow the project formulas."""

from __future__ import annotations

import re

import pytest

from data.pipeline import numfmt
from data.pipeline.exercise_templates import SPECS, SPECS_BY_KEY
from data.pipeline.exercises import generate_exercises, make_exercise

CASES = [
    # metric, template, values, expected result as written, expected substitution fragment
    ("acos", 0, {"investimento": 500, "receita": 2000}, "ACOS = 25%", "R$ 500,00 / R$ 2.000,00"),
    ("roas", 0, {"investimento": 500, "receita": 2000}, "ROAS = 4", "R$ 2.000,00 / R$ 500,00"),
    (
        "tacos",
        0,
        {"investimento": 1000, "receita_total": 10000},
        "TACoS = 10%",
        "R$ 1.000,00 / R$ 10.000,00 × 100",
    ),
    (
        "tacos",
        1,
        {"investimento": 900, "receita_anuncios": 4000, "receita_organica": 8000},
        "TACoS = 7,5%",
        "R$ 4.000,00 + R$ 8.000,00 = R$ 12.000,00",
    ),
    ("cpc", 0, {"investimento": 300, "cliques": 600}, "CPC = R$ 0,50", "R$ 300,00 / 600"),
    (
        "cpm",
        0,
        {"investimento": 50, "impressoes": 10000},
        "CPM = R$ 5,00",
        "R$ 50,00 / 10.000 × 1000",
    ),
    ("ctr", 0, {"impressoes": 10000, "cliques": 150}, "CTR = 1,5%", "150 / 10.000 × 100"),
    (
        "conversao",
        0,
        {"cliques": 1000, "pedidos": 30},
        "taxa de conversão = 3%",
        "30 / 1.000 × 100",
    ),
    (
        "ticket_medio",
        0,
        {"receita": 4500, "pedidos": 30},
        "ticket médio = R$ 150,00",
        "R$ 4.500,00 / 30",
    ),
    (
        "margem",
        0,
        {"preco": 100, "custos": 70},
        "margem de contribuição = 30%",
        "(R$ 100,00 − R$ 70,00) / R$ 100,00",
    ),
    (
        "margem",
        1,
        {"preco": 100, "custo_produto": 40, "comissao": 12, "imposto": 8, "frete": 10},
        "margem de contribuição = 30%",
        "= R$ 70,00",
    ),
    (
        "acos_equilibrio",
        0,
        {"preco": 200, "custos": 150},
        "ACOS de equilíbrio = 25%",
        "(R$ 200,00 − R$ 150,00)",
    ),
    (
        "roi",
        0,
        {"receita": 10000, "margem": 30, "investimento": 1000},
        "ROI = 200%",
        "R$ 10.000,00 × 30% = R$ 3.000,00",
    ),
    (
        "roi",
        0,
        {"receita": 10000, "margem": 20, "investimento": 2500},
        "ROI = -20%",
        "(R$ 2.000,00 − R$ 2.500,00)",
    ),
    (
        "cpc_maximo",
        0,
        {"ticket": 150, "conversao": 2, "acos_alvo": 20},
        "CPC máximo = R$ 0,60",
        "R$ 150,00 × 2% × 20%",
    ),
    ("ltv", 0, {"ticket": 120, "compras": 3}, "LTV = R$ 360,00", "R$ 120,00 × 3"),
    ("cac", 0, {"investimento": 2000, "novos_clientes": 40}, "CAC = R$ 50,00", "R$ 2.000,00 / 40"),
]


@pytest.mark.parametrize(("metric", "template", "values", "result", "substitution"), CASES)
def test_answer_shows_formula_substitution_and_result(
    metric, template, values, result, substitution
) -> None:
    exercise = make_exercise(SPECS_BY_KEY[metric], values, template=template)
    answer = exercise.solution.answer
    assert f"Resultado: {result}\n" in answer
    assert substitution in answer
    assert "Fórmula: " in answer and "Substituindo: " in answer


def _parse_br(text: str) -> float:
    return float(
        text.replace("R$", "").replace("%", "").replace(".", "").replace(",", ".").replace(" ", "")
    )


def _expected(metric: str, v: dict[str, float]) -> float:
    """Independent re-implementation of the project formulas for generated values."""
    if metric in ("margem", "acos_equilibrio"):
        costs = v.get("custos")
        if costs is None:
            costs = round(
                v["custo_produto"]
                + round(v["preco"] * v["comissao"] / 100, 2)
                + round(v["preco"] * v["imposto"] / 100, 2)
                + v["frete"],
                2,
            )
        return (v["preco"] - costs) / v["preco"] * 100
    total = v.get("receita_total", v.get("receita_anuncios", 0) + v.get("receita_organica", 0))
    return {
        "acos": lambda: v["investimento"] / v["receita"] * 100,
        "roas": lambda: v["receita"] / v["investimento"],
        "tacos": lambda: v["investimento"] / total * 100,
        "cpc": lambda: v["investimento"] / v["cliques"],
        "cpm": lambda: v["investimento"] / v["impressoes"] * 1000,
        "ctr": lambda: v["cliques"] / v["impressoes"] * 100,
        "conversao": lambda: v["pedidos"] / v["cliques"] * 100,
        "ticket_medio": lambda: v["receita"] / v["pedidos"],
        "roi": lambda: (
            (v["receita"] * v["margem"] / 100 - v["investimento"]) / v["investimento"] * 100
        ),
        "cpc_maximo": lambda: v["ticket"] * v["conversao"] / 100 * v["acos_alvo"] / 100,
        "ltv": lambda: v["ticket"] * v["compras"],
        "cac": lambda: v["investimento"] / v["novos_clientes"],
    }[metric]()


def test_generated_exercises_are_right() -> None:
    exercises = generate_exercises(list(SPECS), seed=7, per_metric=8)
    assert len(exercises) == 8 * len(SPECS)
    for ex in exercises:
        shown = re.search(r"Resultado: .+? = (-?R?\$? ?[\d.]+(?:,\d+)?%?)\n", ex.solution.answer)
        assert shown, ex.solution.answer
        assert _parse_br(shown.group(1)) == pytest.approx(
            _expected(ex.metric, dict(ex.values)), abs=0.006
        ), ex.question


def test_questions_state_the_numbers_the_answer_uses() -> None:
    for ex in generate_exercises(list(SPECS), seed=3, per_metric=4):
        for key, value in ex.values.items():
            if value >= 1000 and value == int(value):
                assert numfmt.integer(int(value)) in ex.question, (key, ex.question)


def test_generation_is_seeded_and_cycles_templates() -> None:
    first = generate_exercises(list(SPECS), seed=42, per_metric=8)
    again = generate_exercises(list(SPECS), seed=42, per_metric=8)
    other = generate_exercises(list(SPECS), seed=43, per_metric=8)
    assert [e.question for e in first] == [e.question for e in again]
    assert [e.question for e in first] != [e.question for e in other]
    acos = [e for e in first if e.metric == "acos"]
    assert {e.template for e in acos} == {0, 1, 2, 3}
    assert {e.article_id for e in acos} == {"metricas-acos"}
    assert {e.article_id for e in first if e.metric == "cpc_maximo"} == {
        "lances-lance-por-acos-alvo"
    }


@pytest.mark.parametrize(
    ("value", "text"),
    [(1234.5, "R$ 1.234,50"), (0.6, "R$ 0,60"), (-5, "-R$ 5,00"), (1000000, "R$ 1.000.000,00")],
)
def test_money_format(value: float, text: str) -> None:
    assert numfmt.money(value) == text


def test_number_and_percent_format() -> None:
    assert numfmt.percent(12.5) == "12,5%"
    assert numfmt.percent(25.0) == "25%"
    assert numfmt.percent(12.345) == "12,35%"
    assert numfmt.number(0.125) == "0,13"
    assert numfmt.integer(12000) == "12.000"

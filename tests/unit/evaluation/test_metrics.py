"""Answer metrics on Portuguese text: accents survive tokenization, the scores are the textbook ones."""

from __future__ import annotations

import pytest
from rouge_score import rouge_scorer

from workers.evaluation.metrics import (
    exact_match,
    keyword_coverage,
    rouge,
    token_f1,
    tokenize,
)


def test_tokens_keep_accents_and_pt_br_numbers() -> None:
    assert tokenize("Avaliação do ACOS: R$ 3.000,00 e 25%!") == [
        "avaliação",
        "do",
        "acos",
        "r",
        "3.000,00",
        "e",
        "25",
    ]


def test_rouge_counts_accented_words_that_the_default_tokenizer_breaks() -> None:
    reference = "a avaliação da campanha melhorou"
    prediction = "a avaliação do anúncio melhorou"
    default = rouge_scorer.RougeScorer(["rouge1"]).score(reference, prediction)["rouge1"]

    ours = rouge(prediction, reference)

    # 3 of 5 tokens shared either way: "a", "avaliação", "melhorou".
    assert ours["rouge1"] == pytest.approx(3 / 5)
    # The default tokenizer splits "avaliação" into "avalia" and "o" and loses "anúncio".
    assert default.fmeasure != pytest.approx(ours["rouge1"])
    assert rouge("avaliação", "avaliacao")["rouge1"] == 0.0


def test_rouge_l_rewards_order() -> None:
    scores = rouge("roas acos cpc", "acos roas cpc")

    assert scores["rouge1"] == pytest.approx(1.0)
    assert scores["rougeL"] == pytest.approx(2 / 3)


def test_exact_match_ignores_case_and_punctuation_only() -> None:
    assert exact_match("O ACOS é 25%.", "o acos é 25%") == 1.0
    assert exact_match("O ACOS é 25%", "O ACOS é 26%") == 0.0
    assert exact_match("ACOS é 25", "é 25 ACOS") == 0.0


def test_token_f1_is_the_squad_f1() -> None:
    # prediction 4 tokens, reference 3, 2 shared: P = 1/2, R = 2/3, F1 = 4/7.
    assert token_f1("o roas é alto", "roas muito alto") == pytest.approx(4 / 7)
    assert token_f1("", "") == 1.0
    assert token_f1("nada", "") == 0.0
    assert token_f1("abc", "xyz") == 0.0


def test_keyword_coverage_matches_phrases_without_caring_about_accents() -> None:
    answer = "Cada venda da prejuizo de R$10,00: o ACOS passou do equilíbrio."
    keywords = ["prejuízo", "r$ 10,00", "equilíbrio", "r$ 50,00"]

    assert keyword_coverage(answer, keywords) == pytest.approx(3 / 4)
    assert keyword_coverage(answer, []) is None
    assert keyword_coverage("o acos", ["acos de equilíbrio"]) == 0.0


def test_bertscore_runs_offline_from_the_packaged_backbone() -> None:
    from workers.evaluation.metrics import BertScore

    scorer = BertScore(num_layers=6)
    same, other, empty = scorer.f1(
        ["O ACOS é 25%.", "banana com canela", ""],
        ["O ACOS é 25%.", "O ROAS mede receita por real investido.", "x"],
    )

    assert same == pytest.approx(1.0, abs=1e-4)
    assert 0.0 < other < same
    assert empty == 0.0

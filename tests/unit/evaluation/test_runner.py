"""Subset selection, aggregation and answer perplexity (no model loading except the tiny one)."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest

from data.pipeline import load_benchmark
from workers.evaluation.runner import (
    QuestionResult,
    _Encoder,
    answer_nll,
    per_category,
    select_items,
    summarize,
)


def test_the_subset_is_stratified_and_reproducible() -> None:
    items = load_benchmark()

    subset = select_items(items, 2, seed=3)

    assert Counter(i.category for i in subset) == {c: 2 for c in {i.category for i in items}}
    assert [i.id for i in subset] == [i.id for i in select_items(items, 2, seed=3)]
    assert [i.id for i in subset] != [i.id for i in select_items(items, 2, seed=4)]
    assert len(select_items(items, 0)) == len(items)


def _result(category: str, rouge: float, latency: float, **metrics: float) -> QuestionResult:
    return QuestionResult(
        id=f"{category}-{rouge}",
        category=category,
        difficulty="basico",
        question="q",
        reference="r",
        answer="a",
        metrics={"rougeL": rouge, **metrics},
        latency_s=latency,
        ttft_s=0.1,
        completion_tokens=10,
        tokens_per_s=20.0,
        finish_reason="stop",
    )


def test_summaries_average_only_items_that_have_a_metric() -> None:
    rows = [
        _result("metricas", 0.2, 1.0, keyword_coverage=1.0),
        _result("metricas", 0.4, 3.0),
        _result("plataformas", 0.6, 2.0, keyword_coverage=0.5),
    ]

    summary = summarize(rows)
    categories = per_category(rows)

    assert summary["rougeL"] == pytest.approx(0.4)
    assert summary["keyword_coverage"] == pytest.approx(0.75)
    assert summary["latency_mean_s"] == pytest.approx(2.0)
    assert summary["questions"] == 3
    assert categories["metricas"] == {
        "rougeL": pytest.approx(0.3),
        "keyword_coverage": 1.0,
        "questions": 2,
    }


def test_answer_perplexity_scores_only_the_answer_tokens(models_dir: Path) -> None:
    from workers.inference.models import load_model

    loaded = load_model("tiny", models_dir)
    encode = _Encoder(loaded.tokenizer)

    nll, n = answer_nll(loaded.model, encode, "Pergunta: o que é ACOS?\n", "ACOS é 25%.")
    longer, n_longer = answer_nll(
        loaded.model, encode, "Pergunta: o que é ACOS?\n", "ACOS é 25%. ROAS é 4."
    )

    assert n == len(encode("Pergunta: o que é ACOS?\nACOS é 25%.")) - len(
        encode("Pergunta: o que é ACOS?\n")
    )
    assert n_longer > n and longer > nll > 0
    assert math.isfinite(nll)

"""ROUGE-L of the training report keeps accented Portuguese words whole."""

import pytest

from workers.training.report import UnicodeWords, render, rouge_l


def test_accented_words_stay_whole() -> None:
    assert UnicodeWords().tokenize("Avaliação e reputação, já!") == [
        "avaliação",
        "e",
        "reputação",
        "já",
    ]


def test_rouge_l_on_accented_text() -> None:
    assert rouge_l(["a avaliação do produto"], ["a avaliação do vendedor"]) == pytest.approx(0.75)
    # rouge-score's own tokenizer would split "ação" words and inflate the overlap.
    assert rouge_l(["promoção"], ["produção"]) == 0.0


def test_the_report_table_shows_both_changes() -> None:
    report = {
        "base_model": "gemma3-270m",
        "adapter": "a",
        "test_rows_for_loss": 212,
        "test_questions_for_rouge": 32,
        "max_new_tokens": 160,
        "base": {"eval_loss": 3.0, "rougeL": 0.2},
        "tuned": {"eval_loss": 1.5, "rougeL": 0.3},
        "eval_loss_reduction": 0.5,
        "rougeL_gain": 0.5,
    }
    table = render(report)
    assert "| eval loss (test) | 3.0000 | 1.5000 | -50.0% |" in table
    assert "| ROUGE-L (test subset) | 0.2000 | 0.3000 | +50.0% |" in table

"""BM25 term weights: folding, stopwords, saturation, length normalization."""

from workers.inference.lexical import document_weights, query_weights, term_id, terms


def test_terms_fold_accents_and_drop_stopwords_and_numbers() -> None:
    assert terms("Qual é o ACOS da campanha? Não sei, 25%") == ["acos", "campanha", "sei"]
    assert terms("Promoção") == terms("promocao")


def test_query_weights_are_one_per_distinct_term_sorted_by_id() -> None:
    weights = query_weights("ACOS acos ROAS")
    assert weights.values == [1.0, 1.0]
    assert weights.indices == sorted([term_id("acos"), term_id("roas")])


def test_document_weights_saturate_and_favour_short_passages() -> None:
    once = dict(zip(*_pairs("acos campanha"), strict=True))[term_id("acos")]
    thrice = dict(zip(*_pairs("acos acos acos campanha"), strict=True))[term_id("acos")]
    assert once < thrice < 2.2 * once  # more occurrences help, with diminishing returns
    long_text = "acos " + " ".join(f"palavra{i}" for i in range(200))
    diluted = dict(zip(*_pairs(long_text), strict=True))[term_id("acos")]
    assert diluted < once


def test_empty_or_stopword_text_has_no_terms() -> None:
    assert query_weights("o que é?").indices == []
    assert document_weights("").indices == []


def _pairs(text: str) -> tuple[list[int], list[float]]:
    weights = document_weights(text)
    return weights.indices, weights.values

"""Hybrid scoring, per-article ranking, the scope gate, and search over a real Qdrant."""

from collections.abc import Iterator

import pytest
from qdrant_client import QdrantClient

from tests.unit.inference.fakes import ACOS, FRETE, ROAS, HashingEmbedder
from workers.inference.index import update_index
from workers.inference.retrieval import (
    SNIPPET_CHARS,
    Candidate,
    Passage,
    Retriever,
    best_per_article,
    fuse,
)


def cand(pid: str, article: str, dense: float, lexical: float = 0.0) -> Candidate:
    return Candidate(pid, article, f"T {article}", "s", f"T {article}\ntexto", dense, lexical)


def test_fuse_adds_a_lexical_boost_normalized_by_the_best_bm25() -> None:
    found = {
        "a": cand("a", "x", dense=0.50, lexical=10.0),
        "b": cand("b", "y", dense=0.55, lexical=0.0),
        "c": cand("c", "z", dense=0.40, lexical=5.0),
    }
    ranked = fuse(found, lexical_weight=0.3)
    assert [p.candidate.point_id for p in ranked] == ["a", "b", "c"]
    assert [round(p.score, 3) for p in ranked] == [0.8, 0.55, 0.55]


def test_fuse_without_lexical_hits_is_the_cosine_order_and_ties_are_stable() -> None:
    found = {"b": cand("b", "y", 0.3), "a": cand("a", "x", 0.3), "c": cand("c", "z", 0.9)}
    ranked = fuse(found, lexical_weight=0.3)
    assert [p.candidate.point_id for p in ranked] == ["c", "a", "b"]
    assert [p.score for p in ranked] == [0.9, 0.3, 0.3]


def test_fuse_with_zero_weight_ignores_bm25() -> None:
    found = {"a": cand("a", "x", 0.2, 50.0), "b": cand("b", "y", 0.3, 1.0)}
    assert [p.article_id for p in fuse(found, lexical_weight=0.0)] == ["y", "x"]


def test_best_per_article_keeps_the_best_passage_of_each_article() -> None:
    ranked = [
        Passage(cand("1", "x", 0.9), 0.9),
        Passage(cand("2", "x", 0.8), 0.8),
        Passage(cand("3", "y", 0.7), 0.7),
        Passage(cand("4", "z", 0.6), 0.6),
    ]
    assert [p.candidate.point_id for p in best_per_article(ranked, 2)] == ["1", "3"]
    assert len(best_per_article(ranked, 10)) == 3


def test_a_source_drops_the_title_line_and_trims_the_snippet() -> None:
    long = Candidate("p", "x", "Título", "s", "Título\n" + "palavra " * 100, 0.5)
    source = Passage(long, 0.123456).as_source()
    assert source.title == "Título" and source.score == 0.1235
    assert not source.snippet.startswith("Título")
    assert len(source.snippet) <= SNIPPET_CHARS and source.snippet.endswith("…")


@pytest.fixture
def retriever() -> Iterator[Retriever]:
    client = QdrantClient(":memory:")
    update_index(client, "t", [ACOS, ROAS, FRETE], HashingEmbedder(), size=12, overlap=3)
    yield Retriever(client, "t", HashingEmbedder(), top_k=2, min_score=0.2)
    client.close()


def test_search_ranks_the_matching_article_first_and_returns_k_articles(
    retriever: Retriever,
) -> None:
    result = retriever.search("Como calcular o ACOS do investimento em anúncios?")
    assert result.in_scope
    assert result.passages[0].article_id == "metricas-acos"
    assert len({p.article_id for p in result.passages}) == len(result.passages) == 2
    top = result.passages[0].candidate
    assert top.lexical > 0 and 0 < top.dense <= 1


def test_a_lexical_hit_outside_the_dense_top_gets_its_real_cosine(retriever: Retriever) -> None:
    retriever.candidates = 1  # the dense query keeps one passage, the lexical one another
    found = retriever.candidates_for("frete grátis ROAS")
    assert any(c.lexical > 0 and c.dense > 0 for c in found.values())


def test_an_unrelated_question_is_out_of_scope(retriever: Retriever) -> None:
    result = retriever.search("Qual é a capital da Austrália?")
    assert not result.in_scope
    assert result.best_dense < retriever.min_score

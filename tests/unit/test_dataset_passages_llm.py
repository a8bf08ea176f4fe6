"""Context passages are short and relevant; optional LLM paraphrasing skips cleanly."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from data.pipeline.corpus import parse_article
from data.pipeline.llm import URL_ENV, Paraphraser
from data.pipeline.passages import best_passage, sections
from tests.unit.test_dataset_fixture_corpus import write_corpus


def test_best_passage_picks_the_matching_section(tmp_path: Path) -> None:
    article = parse_article(write_corpus(tmp_path) / "metricas" / "metricas-acos.md")
    assert [s.heading for s in sections(article)][1:] == [
        "A fórmula",
        "Exemplos práticos",
        "Cuidados",
    ]
    context = best_passage(article, "Qual é a fórmula do ACOS?")
    assert "— A fórmula" in context and "investimento em anúncios" in context
    context = best_passage(article, "Devo comparar com a margem de contribuição?")
    assert "— Cuidados" in context
    assert len(best_passage(article, "x " * 50, limit=60)) <= 60 + len(article.title) + 40


def test_llm_paraphrasing_is_off_without_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(URL_ENV, raising=False)
    paraphraser = Paraphraser()
    assert not paraphraser.enabled
    assert paraphraser.paraphrase("O que é ACOS?", 2) == []


def test_llm_paraphrasing_with_mock_endpoint() -> None:
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        content = '["Oq seria ACOS?", "ACOS significa o quê?"]'
        return httpx.Response(200, json={"choices": [{"message": {"content": content}}]})

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        paraphraser = Paraphraser("http://llm.local/v1", model="m", client=client)
        assert paraphraser.paraphrase("O que é ACOS?", 2) == [
            "Oq seria ACOS?",
            "ACOS significa o quê?",
        ]
    assert seen[0]["model"] == "m" and seen[0]["temperature"] == 0


def test_llm_failure_disables_paraphrasing() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500)

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        paraphraser = Paraphraser("http://llm.local/v1", client=client)
        assert paraphraser.paraphrase("O que é ACOS?", 2) == []
        assert not paraphraser.enabled

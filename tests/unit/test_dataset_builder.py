"""Builder: record formats, determinism and reproducible hashes on the fixture corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data.pipeline.builder import BuildConfig, build_dataset
from data.pipeline.models import ChatRecord, InstructionRecord
from data.pipeline.passages import MAX_CONTEXT_CHARS
from data.pipeline.prompts import SYSTEM_PROMPT
from data.pipeline.splits import SPLITS
from data.pipeline.versioning import write_dataset
from tests.unit.test_dataset_fixture_corpus import write_benchmark, write_corpus


def _config(tmp_path: Path, **kw) -> BuildConfig:
    corpus = tmp_path / "corpus"
    if not corpus.exists():
        write_corpus(tmp_path)
        write_benchmark(tmp_path)
    return BuildConfig(
        corpus=corpus,
        benchmark=tmp_path / "benchmark",
        exercises_per_metric=kw.pop("exercises_per_metric", 8),
        **kw,
    )


def _write(tmp_path: Path, name: str, **kw) -> dict:
    return write_dataset(build_dataset(_config(tmp_path, **kw)), tmp_path / name)


def test_records_in_both_formats(tmp_path: Path) -> None:
    result = build_dataset(_config(tmp_path))
    chat = [r for s in SPLITS for r in result.chat[s]]
    instruction = {r.id: r for s in SPLITS for r in result.instruction[s]}
    assert chat and set(instruction) == {r.id for r in chat}
    types = {r.metadata.question_type for r in chat}
    assert types == {"concept", "how-to", "comparison", "troubleshooting", "strategy", "exercise"}
    for record in chat:
        assert [m.role for m in record.messages] == ["system", "user", "assistant"]
        assert record.messages[0].content == SYSTEM_PROMPT
        pair = instruction[record.id]
        assert pair.instruction == record.question and pair.output == record.answer
        assert 0 < len(pair.context) <= MAX_CONTEXT_CHARS + 120
        assert record.metadata.source_article in {
            "metricas-acos",
            "metricas-roas",
            "palavras-negativas",
            "problemas-acos-alto",
        }
    exercises = [r for r in chat if r.metadata.question_type == "exercise"]
    assert {r.metadata.source_article for r in exercises} == {"metricas-acos", "metricas-roas"}
    assert all("Resultado:" in r.answer for r in exercises)


def test_phrasings_per_question(tmp_path: Path) -> None:
    result = build_dataset(_config(tmp_path, phrasings=4))
    faq = [r for s in SPLITS for r in result.chat[s] if r.metadata.question_type != "exercise"]
    per_base: dict[str, list[ChatRecord]] = {}
    for record in faq:
        per_base.setdefault(record.metadata.base_id, []).append(record)
    assert all(len(v) == 4 for v in per_base.values())
    for records in per_base.values():
        assert len({r.answer for r in records}) == 1  # same meaning, new wording
        assert {r.metadata.phrasing for r in records} >= {"original"}


def test_same_seed_same_hashes(tmp_path: Path) -> None:
    first = _write(tmp_path, "a", seed=5)
    second = _write(tmp_path, "b", seed=5)
    for split in SPLITS:
        assert first["splits"][split]["sha256"] == second["splits"][split]["sha256"]
        assert (
            first["splits"][split]["instruction_sha256"]
            == (second["splits"][split]["instruction_sha256"])
        )
    assert first["version"] == second["version"]
    assert (tmp_path / "a" / "train.jsonl").read_bytes() == (
        tmp_path / "b" / "train.jsonl"
    ).read_bytes()


def test_different_seed_different_hashes(tmp_path: Path) -> None:
    first = _write(tmp_path, "a", seed=5)
    second = _write(tmp_path, "b", seed=6)
    assert first["splits"]["train"]["sha256"] != second["splits"]["train"]["sha256"]
    assert first["version"] != second["version"]


def test_version_changes_with_the_corpus(tmp_path: Path) -> None:
    before = _write(tmp_path, "a")
    path = tmp_path / "corpus" / "metricas" / "metricas-acos.md"
    path.write_text(path.read_text("utf-8") + "\nMais um parágrafo sobre ACOS.\n", "utf-8")
    after = _write(tmp_path, "b")
    assert before["corpus"]["hash"] != after["corpus"]["hash"]
    assert before["version"] != after["version"]


def test_written_files_round_trip(tmp_path: Path) -> None:
    meta = _write(tmp_path, "datasets")
    for split in SPLITS:
        lines = (tmp_path / "datasets" / f"{split}.jsonl").read_text("utf-8").splitlines()
        assert len(lines) == meta["splits"][split]["records"]
        for line in lines:
            ChatRecord.model_validate(json.loads(line))
        for line in (
            (tmp_path / "datasets" / "instruction" / f"{split}.jsonl")
            .read_text("utf-8")
            .splitlines()
        ):
            InstructionRecord.model_validate_json(line)
    assert meta["version"].startswith("ds-")


@pytest.mark.parametrize("phrasings", [1, 2])
def test_phrasings_option(tmp_path: Path, phrasings: int) -> None:
    result = build_dataset(_config(tmp_path, phrasings=phrasings))
    faq = [r for s in SPLITS for r in result.chat[s] if r.metadata.question_type != "exercise"]
    assert len(faq) == phrasings * len({r.metadata.base_id for r in faq})


def test_pii_in_the_corpus_is_scrubbed_and_reported(tmp_path: Path) -> None:
    config = _config(tmp_path)
    path = tmp_path / "corpus" / "palavras_chave" / "palavras-negativas.md"
    text = path.read_text("utf-8").replace(
        "adicione os termos que não quer atingir.",
        "adicione os termos; dúvidas: suporte@loja.com.br ou (11) 98765-4321.",
    )
    path.write_text(text, "utf-8")
    result = build_dataset(config)
    answers = [r.answer for s in SPLITS for r in result.chat[s]]
    assert any("[EMAIL] ou [TELEFONE]" in a for a in answers)
    assert not any("suporte@loja" in a or "98765" in a for a in answers)
    assert result.pii.by_kind == {"email": 1, "telefone": 1}
    assert list(result.pii.records) == ["palavras-negativas-faq06"]


def test_duplicate_question_across_articles_is_dropped_and_reported(tmp_path: Path) -> None:
    config = _config(tmp_path)
    path = tmp_path / "corpus" / "troubleshooting" / "problemas-acos-alto.md"
    text = path.read_text("utf-8").replace(
        "Frete caro pode aumentar o ACOS?", "Qual a diferença entre ACOS e ROAS?"
    )
    path.write_text(text, "utf-8")
    result = build_dataset(config)
    dropped = {d.base_id: d for d in result.dropped_duplicates}
    assert set(dropped) == {"problemas-acos-alto-faq02"}
    assert dropped["problemas-acos-alto-faq02"].matched.startswith("metricas-acos-faq04")
    ids = {r.metadata.base_id for s in SPLITS for r in result.chat[s]}
    assert "problemas-acos-alto-faq02" not in ids

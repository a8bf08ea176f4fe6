"""Validation: a clean build passes; broken records fail naming the record and the rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data.pipeline.builder import BuildConfig, build_dataset
from data.pipeline.cli import add_commands
from data.pipeline.rules import check_language
from data.pipeline.validate import validate_dataset
from data.pipeline.versioning import write_dataset
from tests.unit.test_dataset_fixture_corpus import write_benchmark, write_corpus


@pytest.fixture
def built(tmp_path: Path) -> Path:
    corpus = write_corpus(tmp_path)
    write_benchmark(tmp_path)
    config = BuildConfig(corpus=corpus, benchmark=tmp_path / "benchmark", exercises_per_metric=8)
    out = tmp_path / "datasets"
    write_dataset(build_dataset(config), out)
    return out


def _validate(out: Path):
    root = out.parent
    return validate_dataset(out, benchmark_dir=root / "benchmark", corpus_dir=root / "corpus")


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def _rewrite(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8")


def _messages(report) -> list[str]:
    return [str(e) for e in report.errors]


def test_clean_build_passes(built: Path) -> None:
    report = _validate(built)
    assert report.ok, _messages(report)
    assert report.counts["train"] > report.counts["val"] > 0
    assert report.version and report.version.startswith("ds-")


def test_duplicated_record_is_caught(built: Path) -> None:
    path = built / "train.jsonl"
    records = _lines(path)
    _rewrite(path, [*records, records[3]])
    messages = _messages(_validate(built))
    rid = records[3]["id"]
    assert any(rid in m and "[duplicate-id]" in m for m in messages), messages
    assert any("[hash-mismatch]" in m for m in messages)


def test_copied_content_under_a_new_id_is_caught(built: Path) -> None:
    path = built / "train.jsonl"
    records = _lines(path)
    copy = json.loads(json.dumps(records[0]))
    copy["id"] = "copia-p9"
    _rewrite(path, [*records, copy])
    messages = _messages(_validate(built))
    assert any("copia-p9" in m and "[exact-duplicate]" in m for m in messages), messages


def test_near_duplicate_from_another_group_is_caught(built: Path) -> None:
    path = built / "train.jsonl"
    records = _lines(path)
    copy = json.loads(json.dumps(records[0]))
    copy["id"] = "intruso-p0"
    copy["metadata"]["group_id"] = copy["metadata"]["base_id"] = "intruso"
    copy["messages"][1]["content"] += " Obrigado!"
    copy["messages"][2]["content"] = "Resposta diferente, mas a pergunta é quase a mesma de antes."
    _rewrite(path, [*records, copy])
    messages = _messages(_validate(built))
    assert any("intruso-p0" in m and "[near-duplicate]" in m for m in messages), messages


@pytest.mark.parametrize(
    ("mutate", "rule"),
    [
        (lambda r: r["messages"].pop(), "schema"),
        (lambda r: r["metadata"].update(difficulty="dificil"), "schema"),
        (lambda r: r["messages"][2].update(content="Curto."), "length"),
        (
            lambda r: r["messages"][0].update(content="You are a helpful assistant."),
            "system-prompt",
        ),
        (
            lambda r: r["messages"][2].update(
                content="The ACOS is the share of the revenue that was spent on ads, and it is "
                "computed as the spend divided by the sales of the ads."
            ),
            "language",
        ),
        (
            lambda r: r["messages"][2].update(
                content=r["messages"][2]["content"] + " Fale com joao@exemplo.com.br."
            ),
            "pii",
        ),
        (lambda r: r["metadata"].update(split="test"), "split-field"),
        (lambda r: r["metadata"].update(source_article="metricas-inexistente"), "unknown-article"),
    ],
)
def test_malformed_record_is_caught(built: Path, mutate, rule: str) -> None:
    path = built / "val.jsonl"
    records = _lines(path)
    mutate(records[1])
    _rewrite(path, records)
    report = _validate(built)
    assert not report.ok
    messages = _messages(report)
    assert any(records[1]["id"] in m and f"[{rule}]" in m for m in messages), messages


def test_group_split_across_files_is_caught(built: Path) -> None:
    val = _lines(built / "val.jsonl")
    train = _lines(built / "train.jsonl")
    moved = dict(train[0], metadata=dict(train[0]["metadata"], split="val"))
    _rewrite(built / "val.jsonl", [*val, moved])
    messages = _messages(_validate(built))
    assert any(
        "[group-leakage]" in m and train[0]["metadata"]["group_id"] in m for m in messages
    ), messages


def test_cli_validate_exit_codes(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command", required=True))
    argv = [
        "validate",
        "--datasets",
        str(built),
        "--benchmark",
        str(built.parent / "benchmark"),
        "--corpus",
        str(built.parent / "corpus"),
    ]
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    assert "validation passed" in capsys.readouterr().out
    path = built / "test.jsonl"
    _rewrite(path, [*_lines(path), {"id": "quebrado", "messages": []}])
    assert args.func(args) == 1
    assert "quebrado" in capsys.readouterr().err


def test_language_check_accepts_portuguese() -> None:
    assert not check_language("x", "Qual é o ACOS de uma campanha que gastou R$ 500,00?", "")
    assert check_language("x", "What is the ACOS of a campaign that spent $500?", "")


def test_stale_corpus_warns_and_tampered_version_fails(built: Path) -> None:
    path = built.parent / "corpus" / "metricas" / "metricas-roas.md"
    path.write_text(path.read_text("utf-8") + "\nNovo parágrafo.\n", "utf-8")
    report = _validate(built)
    assert report.ok and any("corpus changed" in w for w in report.warnings)
    meta_path = built / "metadata.json"
    meta = json.loads(meta_path.read_text("utf-8"))
    meta["version"] = "ds-000000000000"
    meta_path.write_text(json.dumps(meta), "utf-8")
    assert any("[version-mismatch]" in m for m in _messages(_validate(built)))

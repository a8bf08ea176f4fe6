"""Public loader API: load_split, dataset_version, load_corpus, load_benchmark."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pytest

import data.pipeline as pipeline
from data.pipeline.__main__ import main
from data.pipeline.cli import register
from data.pipeline.models import CATEGORIES, DIFFICULTIES
from data.pipeline.paths import REPO_ROOT
from tests.unit.test_dataset_fixture_corpus import write_benchmark, write_corpus


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A fake repository root with data/corpus and data/benchmark, built with the CLI entry."""
    data = tmp_path / "data"
    data.mkdir()
    write_corpus(data)
    write_benchmark(data)
    argv = [
        "build",
        "--corpus",
        str(data / "corpus"),
        "--out",
        str(data / "datasets"),
        "--benchmark",
        str(data / "benchmark"),
        "--exercises-per-metric",
        "4",
    ]
    assert main(argv) == 0
    return tmp_path


def test_build_and_validate_through_main(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (repo / "data" / "DATASET_CARD.md").read_text("utf-8").startswith("# MelancIA")
    data = repo / "data"
    argv = [
        "validate",
        "--datasets",
        str(data / "datasets"),
        "--benchmark",
        str(data / "benchmark"),
        "--corpus",
        str(data / "corpus"),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "validation passed" in out and "| metricas |" in out


def test_load_split_and_version(repo: Path) -> None:
    train = pipeline.load_split("train", root=repo)
    assert train and all(isinstance(r, pipeline.ChatRecord) for r in train)
    assert train[0].messages[0].content == pipeline.SYSTEM_PROMPT
    assert {r.metadata.split for r in pipeline.load_split("test", root=repo)} == {"test"}
    assert pipeline.dataset_version(root=repo).startswith("ds-")
    with pytest.raises(ValueError, match="unknown split"):
        pipeline.load_split("dev", root=repo)
    shutil.rmtree(repo / "data" / "datasets")
    with pytest.raises(FileNotFoundError, match="dataset build"):
        pipeline.load_split("train", root=repo)


def test_load_corpus_and_benchmark_with_root(repo: Path) -> None:
    articles = pipeline.load_corpus(root=repo)
    assert [a.id for a in articles][:2] == ["metricas-acos", "metricas-roas"]
    assert all(a.content_hash and a.path.exists() for a in articles)
    assert [b.id for b in pipeline.load_benchmark(root=repo)] == ["bench-001", "bench-002"]


def test_register_adds_dataset_command() -> None:
    parser = argparse.ArgumentParser(prog="melancia")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["dataset", "build", "--seed", "7", "--phrasings", "4"])
    assert (args.seed, args.phrasings, args.func.__name__) == (7, 4, "run_build")
    assert args.corpus == REPO_ROOT / "data" / "corpus"
    assert args.out == REPO_ROOT / "data" / "datasets"
    args = parser.parse_args(["dataset", "validate", "--datasets", "x"])
    assert args.func.__name__ == "run_validate" and args.datasets == Path("x")


def test_real_corpus_and_benchmark_load() -> None:
    """Loads the repository's corpus and benchmark when they exist (skips otherwise)."""
    corpus_dir = REPO_ROOT / "data" / "corpus"
    bench_dir = REPO_ROOT / "data" / "benchmark"
    if not any(corpus_dir.glob("*/*.md")) or not any(bench_dir.glob("*.jsonl")):
        pytest.skip("real corpus or benchmark not present yet")
    articles = pipeline.load_corpus()
    assert len({a.id for a in articles}) == len(articles)
    assert all(a.category in CATEGORIES and a.difficulty in DIFFICULTIES for a in articles)
    assert all(len(a.faq) >= 1 for a in articles)
    items = pipeline.load_benchmark()
    assert items and len({b.id for b in items}) == len(items)
    ids = {a.id for a in articles}
    known = [b for b in items if b.article_id]
    assert sum(b.article_id in ids for b in known) >= 0.5 * len(known)

"""Default locations of the corpus, benchmark and datasets inside the repository."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def repo_root(root: Path | None = None) -> Path:
    """Return the given repository root, or the one this package lives in."""
    return Path(root) if root is not None else REPO_ROOT


def corpus_dir(root: Path | None = None) -> Path:
    """Return the corpus directory (data/corpus)."""
    return repo_root(root) / "data" / "corpus"


def benchmark_dir(root: Path | None = None) -> Path:
    """Return the benchmark directory (data/benchmark)."""
    return repo_root(root) / "data" / "benchmark"


def datasets_dir(root: Path | None = None) -> Path:
    """Return the generated datasets directory (data/datasets)."""
    return repo_root(root) / "data" / "datasets"


def card_path(root: Path | None = None) -> Path:
    """Return the path of the generated dataset card."""
    return repo_root(root) / "data" / "DATASET_CARD.md"

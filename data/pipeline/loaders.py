"""Public loaders for the built splits and the dataset version."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from data.pipeline.models import ChatRecord
from data.pipeline.paths import datasets_dir

SPLIT_NAMES: tuple[str, ...] = ("train", "val", "test")


def read_split(directory: Path, name: str) -> list[ChatRecord]:
    """Read <directory>/<name>.jsonl as chat records, failing on the first bad line."""
    if name not in SPLIT_NAMES:
        raise ValueError(f"unknown split {name!r}; expected one of {', '.join(SPLIT_NAMES)}")
    path = Path(directory) / f"{name}.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; run `melancia dataset build` first")
    records = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                records.append(ChatRecord.model_validate_json(line))
            except ValidationError as exc:
                raise ValueError(f"{path}:{lineno}: {exc}") from exc
    return records


def load_split(name: str, *, root: Path | None = None) -> list[ChatRecord]:
    """Load the train, val or test split in chat format (root = repository root)."""
    return read_split(datasets_dir(root), name)


def dataset_version(root: Path | None = None) -> str:
    """Return the version id recorded in data/datasets/metadata.json (root = repository root)."""
    path = datasets_dir(root) / "metadata.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; run `melancia dataset build` first")
    return str(json.loads(path.read_text(encoding="utf-8"))["version"])

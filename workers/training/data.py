"""The dataset a job trains on: the requested version's splits, subsets and their hashes."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from data.pipeline import ChatRecord, dataset_version, load_split
from data.pipeline.paths import datasets_dir


class DatasetUnavailable(ValueError):
    """The requested dataset version is not the one built here."""


@dataclass(frozen=True)
class JobData:
    """Training and validation conversations of one dataset version."""

    version: str
    train: list[list[dict[str, str]]]
    val: list[list[dict[str, str]]]
    hashes: dict[str, str] = field(default_factory=dict)
    system_prompt_sha256: str | None = None


def available_version(root: Path | None = None) -> str | None:
    """The version of the dataset built in data/datasets, or None when none is built."""
    try:
        return dataset_version(root)
    except FileNotFoundError:
        return None


def conversation(record: ChatRecord) -> list[dict[str, str]]:
    """A record's messages as plain dicts (what chat templates take)."""
    return [{"role": m.role, "content": m.content} for m in record.messages]


def spread(items: list[Any], limit: int | None) -> list[Any]:
    """A fixed, evenly spaced subset (same rows whatever the seed), in the split's order."""
    if limit is None or limit >= len(items):
        return list(items)
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


def load_job_data(
    version: str,
    *,
    train_limit: int | None,
    eval_limit: int | None,
    seed: int,
    root: Path | None = None,
) -> JobData:
    """Load train and val of `version`; train is a seeded sample when limited."""
    found = available_version(root)
    if found is None:
        raise DatasetUnavailable("no dataset is built here; run `melancia dataset build`")
    if version != found:
        raise DatasetUnavailable(
            f"dataset version {version!r} does not exist here (have {found!r})"
        )
    train = [conversation(r) for r in load_split("train", root=root)]
    if train_limit is not None and train_limit < len(train):
        train = random.Random(seed).sample(train, train_limit)
    val = [conversation(r) for r in spread(load_split("val", root=root), eval_limit)]
    meta = json.loads((datasets_dir(root) / "metadata.json").read_text(encoding="utf-8"))
    return JobData(
        version=found,
        train=train,
        val=val,
        hashes=split_hashes(root, meta),
        system_prompt_sha256=meta.get("system_prompt_sha256"),
    )


def split_hashes(root: Path | None, meta: dict[str, Any]) -> dict[str, str]:
    """sha256 of each split file as read now, and the builder's output hash."""
    hashes = {
        f"{name}_sha256": hashlib.sha256(
            (datasets_dir(root) / f"{name}.jsonl").read_bytes()
        ).hexdigest()
        for name in ("train", "val", "test")
    }
    if "output_hash" in meta:
        hashes["output_hash"] = str(meta["output_hash"])
    return hashes

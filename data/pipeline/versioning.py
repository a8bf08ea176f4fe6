"""Write the split files and metadata.json with content hashes and the dataset version."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from data.pipeline.builder import BuildResult
from data.pipeline.prompts import SYSTEM_PROMPT
from data.pipeline.splits import SPLITS
from data.pipeline.stats import balance, describe

logger = logging.getLogger(__name__)

BUILDER_VERSION = "1"
METADATA_FILE = "metadata.json"
INSTRUCTION_DIR = "instruction"


def jsonl_bytes(records: Sequence[BaseModel]) -> bytes:
    """Serialise records as JSON lines, byte-for-byte reproducible."""
    lines = [
        json.dumps(r.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":"))
        for r in records
    ]
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""


def sha256(data: bytes) -> str:
    """Return the hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def output_hash(file_hashes: dict[str, str]) -> str:
    """Hash the builder output: every split file's name and hash."""
    text = "".join(f"{name}:{digest}\n" for name, digest in sorted(file_hashes.items()))
    return sha256(text.encode())


def dataset_version_id(corpus_hash: str, out_hash: str) -> str:
    """Derive the dataset version from the corpus hash and the builder output hash."""
    return "ds-" + sha256(f"{corpus_hash}:{out_hash}".encode())[:12]


def file_hashes(directory: Path) -> dict[str, str]:
    """Hash the six split files of a datasets directory (missing files are skipped)."""
    out = {}
    for split in SPLITS:
        for rel in (f"{split}.jsonl", f"{INSTRUCTION_DIR}/{split}.jsonl"):
            path = directory / rel
            if path.exists():
                out[rel] = sha256(path.read_bytes())
    return out


def write_dataset(result: BuildResult, out_dir: Path) -> dict[str, object]:
    """Write chat and instruction splits plus metadata.json; return the metadata."""
    (out_dir / INSTRUCTION_DIR).mkdir(parents=True, exist_ok=True)
    hashes: dict[str, str] = {}
    splits: dict[str, dict[str, object]] = {}
    for split in SPLITS:
        chat = jsonl_bytes(result.chat[split])
        instruction = jsonl_bytes(result.instruction[split])
        for rel, data in (
            (f"{split}.jsonl", chat),
            (f"{INSTRUCTION_DIR}/{split}.jsonl", instruction),
        ):
            (out_dir / rel).write_bytes(data)
            hashes[rel] = sha256(data)
        records = result.chat[split]
        splits[split] = {
            "records": len(records),
            "base_questions": len({r.metadata.base_id for r in records}),
            "groups": len({r.metadata.group_id for r in records}),
            "sha256": hashes[f"{split}.jsonl"],
            "bytes": len(chat),
            "instruction_sha256": hashes[f"{INSTRUCTION_DIR}/{split}.jsonl"],
            "instruction_bytes": len(instruction),
            "balance": balance(records),
        }
    out_hash = output_hash(hashes)
    cfg = result.config
    metadata: dict[str, object] = {
        "version": dataset_version_id(result.corpus_hash, out_hash),
        "builder_version": BUILDER_VERSION,
        "seed": cfg.seed,
        "phrasings": cfg.phrasings,
        "exercises_per_metric": cfg.exercises_per_metric,
        "near_duplicate_threshold": cfg.threshold,
        "corpus": {
            "articles": len(result.articles),
            "hash": result.corpus_hash,
            "missing_articles": result.missing_articles,
        },
        "benchmark_items": result.benchmark_count,
        "base_questions": result.base_count,
        "output_hash": out_hash,
        "system_prompt_sha256": sha256(SYSTEM_PROMPT.encode()),
        "llm_paraphrasing": result.llm_used,
        "splits": splits,
        "stats": {s: describe(result.chat[s]) for s in SPLITS},
        "near_duplicates_removed": _drop_summary(result.dropped_duplicates),
        "leakage": _drop_summary(result.dropped_leaks),
        "pii": {
            "replacements": result.pii.total,
            "by_kind": dict(sorted(result.pii.by_kind.items())),
            "records": dict(sorted(result.pii.records.items())),
        },
    }
    (out_dir / METADATA_FILE).write_text(
        json.dumps(metadata, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    logger.info("wrote dataset %s to %s", metadata["version"], out_dir)
    return metadata


def _drop_summary(dropped: list) -> dict[str, object]:
    return {
        "records": len(dropped),
        "base_questions": len({d.base_id for d in dropped}),
        "items": [d.as_dict() for d in dropped],
    }


def read_metadata(directory: Path) -> dict[str, Any]:
    """Load metadata.json of a datasets directory."""
    return json.loads((directory / METADATA_FILE).read_text(encoding="utf-8"))

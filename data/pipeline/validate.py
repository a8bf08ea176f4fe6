"""Validate a written dataset: record rules, duplicates, leakage, hashes, statistics."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from data.pipeline.benchmark import read_benchmark
from data.pipeline.corpus import CorpusError, corpus_hash, read_corpus, read_manifest
from data.pipeline.minhash import DEFAULT_THRESHOLD, near_duplicates
from data.pipeline.models import ChatRecord, InstructionRecord
from data.pipeline.rules import Issue, check_chat, check_instruction, read_jsonl
from data.pipeline.splits import SPLITS
from data.pipeline.stats import balance, describe
from data.pipeline.versioning import (
    INSTRUCTION_DIR,
    METADATA_FILE,
    dataset_version_id,
    file_hashes,
    output_hash,
    read_metadata,
)

logger = logging.getLogger(__name__)

MIN_TRAIN_TARGET = 1000
MIN_DISTINCT_2 = 0.3  # over original phrasings, so augmentation does not mask repetition


@dataclass
class ValidationReport:
    """Errors (which fail validation), warnings and statistics of a dataset."""

    errors: list[Issue] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    stats: dict[str, dict[str, object]] = field(default_factory=dict)
    balance: dict[str, dict[str, int]] = field(default_factory=dict)
    version: str | None = None

    @property
    def ok(self) -> bool:
        """Return True when no rule failed."""
        return not self.errors


def _dataset_rules(chat: dict[str, list[ChatRecord]], threshold: float) -> list[Issue]:
    """Rules that look across records: ids, duplicates, group leakage, near-duplicates."""
    issues: list[Issue] = []
    seen_ids: dict[str, str] = {}
    seen_pairs: dict[tuple[str, str], str] = {}
    split_of: dict[str, dict[str, set[str]]] = {
        "group_id": defaultdict(set),
        "base_id": defaultdict(set),
    }
    flat = [(s, r) for s in SPLITS for r in chat[s]]
    for split, record in flat:
        where = f"{split}.jsonl"
        if record.id in seen_ids:
            issues.append(
                Issue("duplicate-id", f"id already used in {seen_ids[record.id]}", record.id, where)
            )
        else:
            seen_ids[record.id] = where
            qa = (record.question, record.answer)
            if qa in seen_pairs:
                issues.append(
                    Issue(
                        "exact-duplicate",
                        f"same question and answer as {seen_pairs[qa]}",
                        record.id,
                        where,
                    )
                )
            seen_pairs.setdefault(qa, record.id)
        split_of["group_id"][record.metadata.group_id].add(split)
        split_of["base_id"][record.metadata.base_id].add(split)
    for key, mapping in split_of.items():
        for value, splits in sorted(mapping.items()):
            if len(splits) > 1:
                issues.append(
                    Issue(
                        "group-leakage",
                        f"{key} {value} appears in {', '.join(sorted(splits))}",
                        value,
                    )
                )
    for pair in near_duplicates([r.question for _, r in flat], threshold=threshold):
        (sa, a), (sb, b) = flat[pair.left], flat[pair.right]
        if a.metadata.group_id != b.metadata.group_id and a.id != b.id:
            issues.append(
                Issue(
                    "near-duplicate",
                    f"question {pair.similarity:.2f} similar to {a.id} ({sa}) from another group",
                    b.id,
                    f"{sb}.jsonl",
                )
            )
    return issues


def _leakage_rules(
    chat: dict[str, list[ChatRecord]], benchmark: list[tuple[str, str]], threshold: float
) -> list[Issue]:
    """No val, test or benchmark question may near-duplicate a training question."""
    held = [(r.id, r.question, s) for s in ("val", "test") for r in chat[s]]
    held += [(bid, q, "benchmark") for bid, q in benchmark]
    train = chat["train"]
    pairs = near_duplicates(
        [r.question for r in train], [q for _, q, _ in held], threshold=threshold
    )
    return [
        Issue(
            "split-leakage",
            f"question {p.similarity:.2f} similar to {held[p.right][0]} ({held[p.right][2]})",
            train[p.left].id,
            "train.jsonl",
        )
        for p in pairs
    ]


def _file_rules(
    directory: Path, chat: dict[str, list[ChatRecord]], report: ValidationReport
) -> list[Issue]:
    """metadata.json must exist and agree with the files' counts and hashes."""
    if not (directory / METADATA_FILE).exists():
        return [Issue("metadata", f"{METADATA_FILE} is missing", None, str(directory))]
    meta = read_metadata(directory)
    report.version = str(meta.get("version"))
    issues = []
    hashes = file_hashes(directory)
    for split in SPLITS:
        info = meta.get("splits", {}).get(split, {})
        if info.get("records") != len(chat[split]):
            issues.append(
                Issue(
                    "count-mismatch",
                    f"metadata says {info.get('records')} records, file has {len(chat[split])}",
                    None,
                    f"{split}.jsonl",
                )
            )
        for rel, key in (
            (f"{split}.jsonl", "sha256"),
            (f"{INSTRUCTION_DIR}/{split}.jsonl", "instruction_sha256"),
        ):
            if rel in hashes and hashes[rel] != info.get(key):
                issues.append(
                    Issue("hash-mismatch", "sha256 differs from metadata.json", None, rel)
                )
    corpus_hash = str(meta.get("corpus", {}).get("hash", ""))
    expected = dataset_version_id(corpus_hash, output_hash(hashes))
    if not issues and meta.get("version") != expected:
        issues.append(
            Issue(
                "version-mismatch",
                f"version {meta.get('version')} != {expected}",
                None,
                METADATA_FILE,
            )
        )
    return issues


def _stale_warning(directory: Path, corpus_dir: Path) -> list[str]:
    """Warn when the corpus changed after the dataset was built."""
    if not (directory / METADATA_FILE).exists():
        return []
    try:
        current = corpus_hash(read_corpus(corpus_dir))
    except CorpusError as exc:
        return [f"corpus not readable, staleness not checked: {exc}"]
    built = read_metadata(directory).get("corpus", {}).get("hash")
    if current != built:
        return ["corpus changed since this dataset was built; run `melancia dataset build`"]
    return []


def _load_split(
    directory: Path, split: str, manifest: dict[str, tuple[str, str]], report: ValidationReport
) -> list[ChatRecord]:
    """Read one split in both formats, apply the record rules, return the chat records."""
    chat_rel, instr_rel = f"{split}.jsonl", f"{INSTRUCTION_DIR}/{split}.jsonl"
    chat: list[ChatRecord] = []
    if (directory / chat_rel).exists():
        chat, issues = read_jsonl(directory / chat_rel, ChatRecord)
        report.errors += issues
        for record in chat:
            report.errors += check_chat(record, split, chat_rel, manifest)
    else:
        report.errors.append(Issue("missing-file", "split file not found", None, chat_rel))
    if not (directory / instr_rel).exists():
        report.errors.append(Issue("missing-file", "split file not found", None, instr_rel))
        return chat
    instruction, issues = read_jsonl(directory / instr_rel, InstructionRecord)
    report.errors += issues
    for item in instruction:
        report.errors += check_instruction(item, split, instr_rel)
    report.errors += [
        Issue("format-mismatch", f"id only in one of {chat_rel} and {instr_rel}", rid, instr_rel)
        for rid in sorted({r.id for r in chat} ^ {r.id for r in instruction})
    ]
    return chat


def validate_dataset(
    directory: Path,
    *,
    benchmark_dir: Path | None = None,
    corpus_dir: Path | None = None,
    threshold: float = DEFAULT_THRESHOLD,
) -> ValidationReport:
    """Run every rule on the dataset in directory and collect errors and statistics."""
    report = ValidationReport()
    manifest = read_manifest(corpus_dir) if corpus_dir is not None else {}
    chat = {split: _load_split(directory, split, manifest, report) for split in SPLITS}
    benchmark: list[tuple[str, str]] = []
    if benchmark_dir is not None and benchmark_dir.is_dir():
        benchmark = [(b.id, b.question) for b in read_benchmark(benchmark_dir)]
    report.errors += _dataset_rules(chat, threshold)
    report.errors += _leakage_rules(chat, benchmark, threshold)
    report.errors += _file_rules(directory, chat, report)
    if corpus_dir is not None and corpus_dir.is_dir():
        report.warnings += _stale_warning(directory, corpus_dir)
    report.counts = {s: len(chat[s]) for s in SPLITS}
    report.stats = {s: describe(chat[s]) for s in SPLITS}
    report.balance = balance(r for s in SPLITS for r in chat[s])
    if report.counts["train"] < MIN_TRAIN_TARGET:
        report.warnings.append(
            f"train has {report.counts['train']} records, below the {MIN_TRAIN_TARGET} target"
        )
    for split, stats in report.stats.items():
        if stats["records"] and float(str(stats["distinct_2_base_questions"])) < MIN_DISTINCT_2:
            report.warnings.append(
                f"{split}: low question diversity (distinct-2 of original "
                f"questions {stats['distinct_2_base_questions']})"
            )
    logger.info(
        "validated %s: %d errors, %d warnings", directory, len(report.errors), len(report.warnings)
    )
    return report

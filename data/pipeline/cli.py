"""`melancia dataset build|validate`: argparse wiring and the human-readable summary."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from data.pipeline.benchmark import BenchmarkError
from data.pipeline.builder import BuildConfig, build_dataset
from data.pipeline.card import render_card
from data.pipeline.corpus import CorpusError
from data.pipeline.paths import benchmark_dir, corpus_dir, datasets_dir
from data.pipeline.splits import SPLITS
from data.pipeline.stats import render_balance, render_histogram
from data.pipeline.validate import validate_dataset
from data.pipeline.versioning import write_dataset

logger = logging.getLogger(__name__)

MAX_PRINTED_ERRORS = 50


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `dataset` command (with build and validate) to the melancia CLI."""
    parser = subparsers.add_parser("dataset", help="build and validate the training dataset")
    add_commands(parser.add_subparsers(dest="dataset_command", required=True))


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add the build and validate sub-commands to a subparsers object."""
    build = subparsers.add_parser("build", help="corpus -> train/val/test JSONL + card")
    build.add_argument("--corpus", type=Path, default=corpus_dir(), metavar="DIR")
    build.add_argument("--out", type=Path, default=datasets_dir(), metavar="DIR")
    build.add_argument("--seed", type=int, default=42)
    build.add_argument("--phrasings", type=int, default=3, help="phrasings per FAQ question")
    build.add_argument("--exercises-per-metric", type=int, default=22, metavar="INT")
    build.add_argument(
        "--benchmark",
        type=Path,
        default=benchmark_dir(),
        metavar="DIR",
        help="benchmark questions checked for leakage",
    )
    build.set_defaults(func=run_build)
    validate = subparsers.add_parser("validate", help="check a built dataset")
    validate.add_argument("--datasets", type=Path, default=datasets_dir(), metavar="DIR")
    validate.add_argument("--benchmark", type=Path, default=benchmark_dir(), metavar="DIR")
    validate.add_argument(
        "--corpus",
        type=Path,
        default=corpus_dir(),
        metavar="DIR",
        help="its MANIFEST.md is checked against record metadata",
    )
    validate.set_defaults(func=run_validate)


def run_build(args: argparse.Namespace) -> int:
    """Build, write the splits, metadata and card, and print a summary."""
    config = BuildConfig(
        corpus=args.corpus,
        benchmark=args.benchmark,
        seed=args.seed,
        phrasings=args.phrasings,
        exercises_per_metric=args.exercises_per_metric,
    )
    try:
        result = build_dataset(config)
    except (CorpusError, BenchmarkError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    meta = write_dataset(result, args.out)
    card = args.out.parent / "DATASET_CARD.md"
    card.write_text(render_card(meta), encoding="utf-8")
    counts = {s: len(result.chat[s]) for s in SPLITS}
    print(
        f"dataset {meta['version']}: {len(result.articles)} articles "
        f"({len(result.missing_articles)} missing from manifest), "
        f"{result.base_count} base questions, benchmark {result.benchmark_count} items"
    )
    print("records: " + ", ".join(f"{s} {n}" for s, n in counts.items()))
    print(
        f"near-duplicates removed: {len(result.dropped_duplicates)} records; leakage drops "
        f"from train: {len(result.dropped_leaks)} records; PII replaced: {result.pii.total}"
    )
    print(render_balance(_merged_balance(meta)))
    print(f"wrote {args.out} and {card}")
    return 0


def _merged_balance(meta: dict) -> dict[str, dict[str, int]]:
    merged: dict[str, dict[str, int]] = {}
    for split in SPLITS:
        for category, row in meta["splits"][split]["balance"].items():
            target = merged.setdefault(category, dict.fromkeys(row, 0))
            for difficulty, count in row.items():
                target[difficulty] += count
    return merged


def run_validate(args: argparse.Namespace) -> int:
    """Validate a dataset directory; print errors naming record and rule; 1 on failure."""
    try:
        report = validate_dataset(
            args.datasets, benchmark_dir=args.benchmark, corpus_dir=args.corpus
        )
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"dataset {report.version}: " + ", ".join(f"{s} {n}" for s, n in report.counts.items()))
    print(render_balance(report.balance))
    train = report.stats.get("train", {})
    print(
        f"train diversity: distinct-1 {train.get('distinct_1_questions')}, distinct-2 "
        f"{train.get('distinct_2_questions')} (questions)"
    )
    for field, title in (("question_chars", "question"), ("answer_chars", "answer")):
        rows = train.get(field)
        if isinstance(rows, list):
            print(f"train {title} length (chars):")
            print(render_histogram(rows, width=30))
    for warning in report.warnings:
        print(f"warning: {warning}")
    for issue in report.errors[:MAX_PRINTED_ERRORS]:
        print(f"error: {issue}", file=sys.stderr)
    if len(report.errors) > MAX_PRINTED_ERRORS:
        print(f"error: … and {len(report.errors) - MAX_PRINTED_ERRORS} more", file=sys.stderr)
    print("validation " + ("passed" if report.ok else f"FAILED ({len(report.errors)} errors)"))
    return 0 if report.ok else 1

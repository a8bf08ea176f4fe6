"""Read and merge the benchmark question files (data/benchmark/*.jsonl)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from pydantic import ValidationError

from data.pipeline.models import BenchmarkItem
from data.pipeline.paths import benchmark_dir

logger = logging.getLogger(__name__)


class BenchmarkError(ValueError):
    """A benchmark line that is not valid JSON or does not match BenchmarkItem."""


def read_benchmark(directory: Path) -> list[BenchmarkItem]:
    """Parse all *.jsonl files of directory, in sorted file order; ids must be unique."""
    items: list[BenchmarkItem] = []
    seen: dict[str, str] = {}
    for path in sorted(Path(directory).glob("*.jsonl")):
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            where = f"{path.name}:{lineno}"
            try:
                item = BenchmarkItem.model_validate(json.loads(line))
            except (json.JSONDecodeError, ValidationError) as exc:
                raise BenchmarkError(f"{where}: {exc}") from exc
            if item.id in seen:
                raise BenchmarkError(
                    f"{where}: duplicate id {item.id!r} (first in {seen[item.id]})"
                )
            seen[item.id] = where
            items.append(item)
    logger.info("read %d benchmark items from %s", len(items), directory)
    return items


def load_benchmark(root: Path | None = None) -> list[BenchmarkItem]:
    """Load, merge and validate data/benchmark/*.jsonl (root = repository root)."""
    return read_benchmark(benchmark_dir(root))

"""Decode a batch of records and write the valid ones; poison records are handed back."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from workers.analytics.metrics import AnalyticsMetrics
from workers.analytics.records import Decoded, Poison, RawRecord, decode
from workers.analytics.store import AnalyticsStore


@dataclass(frozen=True)
class IngestOutcome:
    inserted: int
    duplicates: int
    poison: list[Poison]


class AnalyticsSink:
    """The sink's logic, without a broker: records in, rows out (runs in a worker thread)."""

    def __init__(self, store: AnalyticsStore, metrics: AnalyticsMetrics) -> None:
        self.store = store
        self.metrics = metrics

    def ingest(self, records: Sequence[RawRecord]) -> IngestOutcome:
        started = time.perf_counter()
        now = datetime.now(UTC)
        valid: list[Decoded] = []
        poison: list[Poison] = []
        newest: dict[str, datetime] = {}
        for record in records:
            item = decode(record, self.store.specs, now)
            if isinstance(item, Poison):
                poison.append(item)
                continue
            valid.append(item)
            if record.topic not in newest or item.time > newest[record.topic]:
                newest[record.topic] = item.time
        result = self.store.write(valid)
        self.metrics.written(newest)
        self.metrics.events.labels("inserted").inc(result.inserted)
        self.metrics.events.labels("duplicate").inc(result.duplicates)
        self.metrics.events.labels("poison").inc(len(poison))
        self.metrics.batches.inc()
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        return IngestOutcome(result.inserted, result.duplicates, poison)

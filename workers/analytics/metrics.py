"""Analytics sink metrics, all on one explicit registry.

| name | type | labels | meaning |
|---|---|---|---|
| melancia_analytics_events_total | counter | outcome | records seen: inserted, duplicate (event_id already stored), poison |
| melancia_analytics_batches_total | counter | | batches written to DuckDB |
| melancia_analytics_batch_seconds | histogram | | time to decode and write one batch |
| melancia_analytics_write_failures_total | counter | | DuckDB writes that failed (the batch is redelivered) |
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class AnalyticsMetrics:
    """The sink's Prometheus instruments, with plain totals the HTTP endpoint reports."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.events = Counter(
            "melancia_analytics_events", "Records seen by the sink", ["outcome"], registry=r
        )
        self.batches = Counter("melancia_analytics_batches", "Batches written", registry=r)
        self.batch_seconds = Histogram(
            "melancia_analytics_batch_seconds",
            "Decode and write time of one batch",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.write_failures = Counter(
            "melancia_analytics_write_failures", "Failed DuckDB writes", registry=r
        )

    def totals(self) -> dict[str, int]:
        """inserted / duplicate / poison counts and batches, for /health."""
        out = {
            outcome: int(self.events.labels(outcome)._value.get())
            for outcome in ("inserted", "duplicate", "poison")
        }
        out["batches"] = int(self.batches._value.get())
        return out

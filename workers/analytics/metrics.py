"""Analytics sink metrics, all on one explicit registry.

| name | type | labels | meaning |
|---|---|---|---|
| melancia_analytics_events_total | counter | outcome | records seen: inserted, duplicate (event_id already stored), poison |
| melancia_analytics_batches_total | counter | | batches written to DuckDB |
| melancia_analytics_batch_seconds | histogram | | time to decode and write one batch |
| melancia_analytics_write_failures_total | counter | | DuckDB writes that failed (the batch is redelivered) |
| melancia_analytics_last_event_timestamp_seconds | gauge | topic | event time of the newest event written |
| melancia_analytics_active_users | gauge | window | distinct user_id in the query log over 1h, 24h |
| melancia_analytics_feedback_total | counter | variant, rating | feedback on logged answers, by A/B arm |

The last two are read from the store when Prometheus scrapes (`StoreFigures`), so they hold
across restarts and need no bookkeeping of their own.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

import duckdb
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from workers.analytics.stats import active_users, feedback_by_variant
from workers.analytics.store import AnalyticsStore

logger = logging.getLogger(__name__)


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
        self.last_event = Gauge(
            "melancia_analytics_last_event_timestamp_seconds",
            "Event time of the newest event written",
            ["topic"],
            registry=r,
        )
        self._newest: dict[str, float] = {}
        self._lock = threading.Lock()
        self._figures: StoreFigures | None = None

    def written(self, newest: dict[str, datetime]) -> None:
        """Move each topic's freshness forward (a redelivered batch carries older events)."""
        with self._lock:
            for topic, time in newest.items():
                stamp = time.timestamp()
                if stamp > self._newest.get(topic, float("-inf")):
                    self._newest[topic] = stamp
                    self.last_event.labels(topic).set(stamp)

    def watch(self, store: AnalyticsStore) -> None:
        """Report the store's figures at every scrape, until `unwatch`."""
        self.unwatch()
        self._figures = StoreFigures(store)
        self.registry.register(self._figures)

    def unwatch(self) -> None:
        if self._figures is not None:
            self.registry.unregister(self._figures)
            self._figures = None

    def totals(self) -> dict[str, int]:
        """inserted / duplicate / poison counts and batches, for /health."""
        out = {
            outcome: int(self.events.labels(outcome)._value.get())
            for outcome in ("inserted", "duplicate", "poison")
        }
        out["batches"] = int(self.batches._value.get())
        return out


class StoreFigures(Collector):
    """Active users and feedback by variant, queried from the store when scraped."""

    def __init__(self, store: AnalyticsStore) -> None:
        self.store = store

    def describe(self) -> Iterable[Metric]:
        # Describing spares a query at registration, when the registry checks names.
        return [_users_family(), _feedback_family()]

    def collect(self) -> Iterator[Metric]:
        try:
            with contextlib.closing(self.store.cursor()) as cursor:
                users = active_users(cursor, now=datetime.now(UTC))
                feedback = feedback_by_variant(cursor)
        except duckdb.Error as exc:
            # A scrape must not fail for it: the other metrics still tell what the sink does.
            logger.warning("store figures not collected: %s", exc)
            return
        users_family = _users_family()
        for window, count in users.items():
            users_family.add_metric([window], count)
        feedback_family = _feedback_family()
        for (variant, rating), count in feedback.items():
            feedback_family.add_metric([variant, rating], count)
        yield users_family
        yield feedback_family


def _users_family() -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "melancia_analytics_active_users",
        "Distinct users in the query log over the window",
        labels=["window"],
    )


def _feedback_family() -> CounterMetricFamily:
    return CounterMetricFamily(
        "melancia_analytics_feedback",
        "Feedback on logged answers by variant and rating",
        labels=["variant", "rating"],
    )

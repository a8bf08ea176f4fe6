"""Inference worker metrics, on the worker's registry (docs/metrics.md lists them all).

| name | type | labels | meaning |
|---|---|---|---|
| melancia_inference_queries_total | counter | model, variant, tier, finish_reason | queries answered |
| melancia_inference_latency_seconds | histogram | model, variant | pickup to last token (stop, length) |
| melancia_inference_ttft_seconds | histogram | model, variant | pickup to first token (stop, length) |
| melancia_inference_queue_seconds | histogram | model | query.requested event time to pickup |
| melancia_inference_tokens_total | counter | model, variant, kind | prompt and completion tokens |
| melancia_inference_cancellations_total | counter | model, variant | generations stopped by query.cancelled |
| melancia_inference_errors_total | counter | model, type | failures: oom, prompt_too_long, exception |
| melancia_inference_in_flight | gauge | | queries generating now |
| melancia_inference_capacity | gauge | | MELANCIA_INFERENCE_CONCURRENCY |
| melancia_inference_model_info | gauge | model, variant, adapter, version | 1 per variant served |
| melancia_retrieval_latency_seconds | histogram | | embed the question and search the index |

`variant` on the query metrics is the label the answer carries (`champion@3`), the same as in
the query log; `melancia_inference_model_info` splits it into the arm and its version.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from schemas.query import QueryCompleted
from workers.inference.adapters import BASE_ADAPTER
from workers.inference.engine import PromptTooLong
from workers.inference.variants import Arm

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 3, 4, 6, 8, 12, 20, 30, 60)
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1, 1.5, 2, 4, 8)
QUEUE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
RETRIEVAL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
ANSWERED = ("stop", "length")  # finished answers; cut-short ones would skew the timings
NONE = "none"  # label value of "no adapter" and "no registry version"


def error_type(exc: BaseException) -> str:
    """A bounded name for a generation failure."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return "oom"  # MemoryError on the CPU, torch.OutOfMemoryError on an accelerator
    if isinstance(exc, PromptTooLong):
        return "prompt_too_long"
    return "exception"


class InferenceTelemetry:
    """The inference worker's Prometheus instruments and what records into them."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry or CollectorRegistry()
        self.queries = Counter(
            "melancia_inference_queries",
            "Queries answered",
            ["model", "variant", "tier", "finish_reason"],
            registry=r,
        )
        self.latency = Histogram(
            "melancia_inference_latency_seconds",
            "Pickup to last token",
            ["model", "variant"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "melancia_inference_ttft_seconds",
            "Pickup to first token",
            ["model", "variant"],
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.queue = Histogram(
            "melancia_inference_queue_seconds",
            "Time a query waited in Kafka",
            ["model"],
            buckets=QUEUE_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "melancia_inference_tokens",
            "Tokens processed",
            ["model", "variant", "kind"],
            registry=r,
        )
        self.cancellations = Counter(
            "melancia_inference_cancellations",
            "Generations stopped by query.cancelled",
            ["model", "variant"],
            registry=r,
        )
        self.errors = Counter(
            "melancia_inference_errors", "Generation failures", ["model", "type"], registry=r
        )
        self.in_flight = Gauge("melancia_inference_in_flight", "Queries generating now", registry=r)
        self.capacity = Gauge(
            "melancia_inference_capacity", "Queries this worker generates at once", registry=r
        )
        self.model_info = Gauge(
            "melancia_inference_model_info",
            "Models and adapters this worker serves",
            ["model", "variant", "adapter", "version"],
            registry=r,
        )
        self.retrieval = Histogram(
            "melancia_retrieval_latency_seconds",
            "Embedding the question and searching the index",
            buckets=RETRIEVAL_BUCKETS,
            registry=r,
        )
        self._served: set[tuple[str, str, str, str]] = set()

    def picked_up(self, model: str, sent_at: datetime, *, replayed: bool = False) -> None:
        """A query left Kafka; replayed events carry their original time, so they don't count."""
        if not replayed:
            waited = (datetime.now(UTC) - sent_at).total_seconds()
            self.queue.labels(model).observe(max(waited, 0.0))  # clocks of two hosts may differ

    def completed(self, record: QueryCompleted) -> None:
        """Everything the query-log record of an answer says about it."""
        model, variant = record.model, record.variant
        self.queries.labels(model, variant, record.tier, record.finish_reason).inc()
        self.tokens.labels(model, variant, "prompt").inc(record.prompt_tokens)
        self.tokens.labels(model, variant, "completion").inc(record.completion_tokens)
        if record.finish_reason == "cancelled":
            self.cancellations.labels(model, variant).inc()
        if record.finish_reason in ANSWERED:
            self.latency.labels(model, variant).observe(record.latency_ms / 1000)
            if record.ttft_ms is not None:
                self.ttft.labels(model, variant).observe(record.ttft_ms / 1000)

    def failed(self, model: str, exc: BaseException) -> None:
        self.errors.labels(model, error_type(exc)).inc()

    def serving(self, model: str, arms: Mapping[str, Arm]) -> None:
        """Replace the served-models series with what the variants point at now."""
        served = set()
        for variant, arm in arms.items():
            adapter = NONE if arm.adapter == BASE_ADAPTER else arm.adapter
            served.add((model, variant, adapter, arm.version or NONE))
        # Set the new series before removing the old: a scrape never sees nothing served.
        for labels in served:
            self.model_info.labels(*labels).set(1)
        for labels in self._served - served:
            self.model_info.remove(*labels)
        self._served = served

"""Gateway metrics, all on one explicit registry.

| name | type | labels | meaning |
|---|---|---|---|
| melancia_gateway_requests_total | counter | route, status | HTTP requests by route and status |
| melancia_gateway_request_latency_seconds | histogram | route | end-to-end latency of a query |
| melancia_gateway_ttft_seconds | histogram | route | time from request to first token |
| melancia_gateway_in_flight | gauge | | open queries (admission control counts these) |
| melancia_gateway_errors_total | counter | type | failures by kind (no_worker, timeout, generation, ...) |
| melancia_gateway_rejected_total | counter | reason | queries refused by admission control |
| melancia_gateway_tokens_total | counter | model | completion tokens streamed to clients |
| melancia_gateway_cancellations_total | counter | | queries cancelled because the client went away |
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 3, 4, 6, 8, 12, 20, 30, 60)
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1, 1.5, 2, 4, 8)


class GatewayMetrics:
    """The gateway's Prometheus instruments."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "melancia_gateway_requests", "HTTP requests", ["route", "status"], registry=r
        )
        self.latency = Histogram(
            "melancia_gateway_request_latency_seconds",
            "End-to-end query latency",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "melancia_gateway_ttft_seconds",
            "Time to first token",
            ["route"],
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge("melancia_gateway_in_flight", "Open queries", registry=r)
        self.errors = Counter("melancia_gateway_errors", "Failures", ["type"], registry=r)
        self.rejected = Counter(
            "melancia_gateway_rejected", "Admission rejections", ["reason"], registry=r
        )
        self.tokens = Counter(
            "melancia_gateway_tokens", "Completion tokens streamed", ["model"], registry=r
        )
        self.cancellations = Counter(
            "melancia_gateway_cancellations", "Queries cancelled on disconnect", registry=r
        )
        self.cache_requests = Counter(
            "melancia_gateway_cache_requests",
            "Answer-cache lookups",
            ["result"],
            registry=r,
        )

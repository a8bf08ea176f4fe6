"""Alerts worker metrics, all on one explicit registry.

| name | type | labels | meaning |
|---|---|---|---|
| melancia_alerts_queued_total | counter | kind | alerts put on the send queue |
| melancia_alerts_sent_total | counter | | alerts the webhook accepted |
| melancia_alerts_retries_total | counter | | failed deliveries that were retried |
| melancia_alerts_failed_total | counter | | alerts given up on after the last attempt (or a 4xx) |
| melancia_alerts_dropped_total | counter | | oldest alerts dropped because the queue was full |
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class AlertMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.queued = Counter("melancia_alerts_queued", "Alerts queued", ["kind"], registry=r)
        self.sent = Counter("melancia_alerts_sent", "Alerts delivered", registry=r)
        self.retries = Counter("melancia_alerts_retries", "Delivery retries", registry=r)
        self.failed = Counter("melancia_alerts_failed", "Alerts given up on", registry=r)
        self.dropped = Counter("melancia_alerts_dropped", "Alerts dropped (queue full)", registry=r)

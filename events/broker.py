"""Builds the FastStream KafkaBroker every service uses, from settings."""

from __future__ import annotations

import logging
import ssl
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from prometheus_client import CollectorRegistry

from events.reliability import Reliability
from events.settings import BusSettings


def _security(settings: BusSettings) -> BaseSecurity | None:
    protocol = settings.security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = None
    if protocol.endswith("SSL"):
        context = ssl.create_default_context(cafile=settings.ssl_cafile)
        if settings.ssl_certfile:
            context.load_cert_chain(settings.ssl_certfile, settings.ssl_keyfile)
    if not protocol.startswith("SASL"):
        return BaseSecurity(ssl_context=context, use_ssl=True)
    if not (settings.sasl_username and settings.sasl_password):
        raise ValueError("SASL needs MELANCIA_KAFKA_SASL_USERNAME and MELANCIA_KAFKA_SASL_PASSWORD")
    sasl = {
        "PLAIN": SASLPlaintext,
        "SCRAM-SHA-256": SASLScram256,
        "SCRAM-SHA-512": SASLScram512,
    }[settings.sasl_mechanism or "PLAIN"]
    return sasl(
        settings.sasl_username,
        settings.sasl_password.get_secret_value(),
        ssl_context=context,
        use_ssl=context is not None,
    )


class PacedKafkaBroker(KafkaBroker):
    """FastStream's KafkaBroker whose subscribers, unless they say otherwise, let the broker
    hold an empty fetch for `background_fetch_wait_ms`: events nobody waits on in real time
    (promotions, training progress, heartbeats, the query log) need no quick polling
    (events.pacing)."""

    def __init__(self, *args: Any, background_fetch_wait_ms: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.background_fetch_wait_ms = background_fetch_wait_ms

    def subscriber(self, *topics: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("fetch_max_wait_ms", self.background_fetch_wait_ms)
        return super().subscriber(*topics, **kwargs)


def build_broker(
    settings: BusSettings,
    *,
    service: str,
    registry: CollectorRegistry | None = None,
) -> tuple[KafkaBroker, Reliability]:
    """A broker with dead-lettering, bounded retries, idempotency and Prometheus metrics."""
    reliability = Reliability(
        service=service,
        max_retries=settings.max_retries,
        backoff_s=settings.retry_backoff_s,
        dedup_window=settings.dedup_window,
        registry=registry,
    )
    middlewares: list[object] = [reliability]
    if registry is not None:
        from faststream.kafka.prometheus import KafkaPrometheusMiddleware

        middlewares.insert(0, KafkaPrometheusMiddleware(registry=registry, app_name=service))
    broker = PacedKafkaBroker(
        settings.servers,
        background_fetch_wait_ms=settings.background_fetch_wait_ms,
        client_id=f"{settings.client_id}-{service}",
        security=_security(settings),
        middlewares=middlewares,
        logger=logging.getLogger(f"melancia.{service}.bus"),
        # Tansu (the embedded broker) has no idempotent producer; acks=all is still safe.
        enable_idempotence=False,
        acks="all",
        graceful_timeout=10.0,
    )
    reliability.bind(broker)
    return broker, reliability

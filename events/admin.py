"""Creating topics with their partition counts, and probing the broker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from events.settings import BusSettings
from events.topics import TopicSpec

logger = logging.getLogger(__name__)


def client_kwargs(settings: BusSettings) -> dict[str, Any]:
    """aiokafka client arguments for the configured cluster, SASL/SSL included."""
    kwargs: dict[str, Any] = {"bootstrap_servers": settings.servers}
    if settings.security_protocol != "PLAINTEXT":
        from events.broker import _security

        security = _security(settings)
        kwargs["security_protocol"] = settings.security_protocol
        if security is not None and security.ssl_context is not None:
            kwargs["ssl_context"] = security.ssl_context
        if settings.sasl_mechanism:
            kwargs["sasl_mechanism"] = settings.sasl_mechanism
            kwargs["sasl_plain_username"] = settings.sasl_username
            kwargs["sasl_plain_password"] = (
                settings.sasl_password.get_secret_value() if settings.sasl_password else None
            )
    return kwargs


def _admin(settings: BusSettings, timeout_s: float) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(
        client_id=f"{settings.client_id}-admin",
        request_timeout_ms=int(timeout_s * 1000),
        **client_kwargs(settings),
    )


async def ensure_topics(settings: BusSettings, specs: Iterable[TopicSpec]) -> list[str]:
    """Create the topics that do not exist yet; returns the names created."""
    admin = _admin(settings, timeout_s=10)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        created: list[str] = []
        for spec in missing:
            try:
                await admin.create_topics(
                    [NewTopic(spec.name, num_partitions=spec.partitions, replication_factor=1)]
                )
                created.append(spec.name)
            except TopicAlreadyExistsError:
                pass
        if created:
            logger.info("created topics: %s", ", ".join(created))
        return created
    finally:
        await admin.close()


async def broker_reachable(settings: BusSettings, timeout_s: float = 2.0) -> bool:
    """True when the cluster answers a metadata request within the timeout."""
    admin = _admin(settings, timeout_s=timeout_s)
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        await asyncio.wait_for(admin.list_topics(), timeout_s)
        return True
    except (KafkaError, OSError, TimeoutError):
        return False
    finally:
        with contextlib.suppress(KafkaError, OSError, RuntimeError):
            await admin.close()

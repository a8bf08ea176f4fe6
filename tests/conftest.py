"""Shared fixtures: the embedded broker is started here, never assumed to be running."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """Converted model weights are cached here across test runs."""
    path = Path(os.environ.get("MELANCIA_HOME", ROOT / "var")) / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """A Kafka-protocol broker for integration tests.

    Uses MELANCIA_TEST_KAFKA_BOOTSTRAP when given (a real Kafka cluster), else Kafka in a
    testcontainer when Docker is available, else the embedded Tansu broker.
    """
    configured = os.environ.get("MELANCIA_TEST_KAFKA_BOOTSTRAP")
    if configured:
        yield configured
        return
    if os.environ.get("MELANCIA_TEST_USE_DOCKER") == "1":
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer() as kafka:
            yield kafka.get_bootstrap_server()
        return
    from events.embedded import EmbeddedBroker, free_port

    with EmbeddedBroker(port=free_port()) as broker:
        yield broker.bootstrap

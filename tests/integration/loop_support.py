"""Helpers of the analytics and closed-loop integration tests."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from events.admin import ensure_topics
from events.settings import BusSettings
from events.topics import all_topics
from schemas.envelope import Envelope
from tests.integration.harness import ROOT

# Training and evaluation small enough for a test: two steps; two questions, short answers,
# no BERTScore (its own unit test covers it). The gate's machinery, not the model's quality.
TINY_TRAINING = {"rank": 4, "alpha": 8, "max_steps": 2, "batch_size": 2, "train_limit": 8}
TINY_EVAL_ENV = {
    "MELANCIA_EVAL_PER_CATEGORY": "1",
    "MELANCIA_EVAL_MAX_QUESTIONS": "2",
    "MELANCIA_EVAL_MAX_NEW_TOKENS": "8",
    "MELANCIA_EVAL_PERPLEXITY_RECORDS": "2",
    "MELANCIA_EVAL_BERTSCORE": "false",
    "MELANCIA_EVAL_TORCH_THREADS": "1",
}


@contextmanager
def isolated_kafka() -> Iterator[str]:
    """A broker of the module's own: these tests read whole topics from the beginning.

    With MELANCIA_TEST_KAFKA_BOOTSTRAP the configured cluster is shared instead.
    """
    configured = os.environ.get("MELANCIA_TEST_KAFKA_BOOTSTRAP")
    if configured:
        yield configured
        return
    from events.embedded import EmbeddedBroker, free_port

    with EmbeddedBroker(port=free_port()) as broker:
        asyncio.run(ensure_topics(BusSettings(bootstrap=broker.bootstrap), all_topics()))
        yield broker.bootstrap


async def _produce(bootstrap: str, topic: str, records: list[tuple[str | None, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value, key=key.encode() if key else None)
            for key, value in records
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def produce_events(bootstrap: str, topic: str, events: list[Envelope[Any]], key: str) -> None:
    """Publish envelopes keyed by a payload field (query_id, job_id, ...)."""
    records = [(str(getattr(e.data, key)), e.model_dump_json().encode()) for e in events]
    asyncio.run(_produce(bootstrap, topic, records))


def produce_raw(bootstrap: str, topic: str, values: list[bytes]) -> None:
    asyncio.run(_produce(bootstrap, topic, [(None, v) for v in values]))


def get_json(url: str, **params: object) -> Any:
    try:
        response = httpx.get(url, params=params, timeout=10)  # type: ignore[arg-type]
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None


def melancia(args: list[str], env: dict[str, str], timeout_s: float = 120) -> str:
    """Run a `melancia` command to completion; its output (failing the test on a non-zero exit)."""
    done = subprocess.run(
        [sys.executable, "-m", "melancia", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    assert done.returncode == 0, f"melancia {' '.join(args)}: {done.stdout}\n{done.stderr}"
    return done.stdout

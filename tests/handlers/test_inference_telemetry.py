"""The inference worker's metrics under TestKafkaBroker: queries, swaps, and the app's wiring."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import torch
from faststream import TestApp
from faststream.kafka import TestKafkaBroker
from peft import LoraConfig, get_peft_model
from prometheus_client import CollectorRegistry
from transformers import AutoModelForCausalLM

from events.bus import emit
from events.embedded import free_port
from events.settings import BusSettings
from events.topics import MODEL_PROMOTED, MODEL_ROLLED_BACK, QUERY_REQUESTED
from schemas.envelope import make_event
from schemas.query import QueryRequested
from schemas.registry import ModelPromoted, ModelRolledBack
from workers.inference import app as inference_app
from workers.inference.app import create_app, load_service, load_swapper
from workers.inference.models import ensure_model
from workers.inference.settings import InferenceSettings
from workers.inference.telemetry import InferenceTelemetry

BUS = BusSettings(bootstrap="localhost:9092")
INFO = "melancia_inference_model_info"


@pytest.fixture(scope="module")
def settings(models_dir: Path) -> InferenceSettings:
    return InferenceSettings(
        base_model="tiny",
        home=models_dir.parent,
        worker_id="w-metrics",
        retrieval=False,
        shipped_adapter=False,
        serve_registry=False,
        inference_concurrency=3,
    )


@pytest.fixture(scope="module")
def adapter(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(5)
    base = AutoModelForCausalLM.from_pretrained(ensure_model("tiny", models_dir))
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj"], init_lora_weights=False)
    path = tmp_path_factory.mktemp("metrics-swap") / "v1"
    get_peft_model(base, config).save_pretrained(path)
    return path


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


async def test_a_query_from_the_topic_counts_its_wait_in_kafka_and_its_answer(
    settings: InferenceSettings,
) -> None:
    registry = CollectorRegistry()
    _, broker, runtime = create_app(settings, BUS, registry)
    runtime.service = load_service(settings, runtime.telemetry)
    request = QueryRequested(query_id="q-m1", question="Oi", params={"max_new_tokens": 3})
    event = make_event(request, source="gw")
    waited = event.model_copy(update={"time": datetime.now(UTC) - timedelta(seconds=1)})

    async with TestKafkaBroker(broker) as br:
        await emit(br, QUERY_REQUESTED, waited, key="q-m1")

    model = runtime.service.model_name
    assert sample(registry, "melancia_inference_queue_seconds_count", model=model) == 1
    assert sample(registry, "melancia_inference_queue_seconds_sum", model=model) >= 1  # type: ignore[operator]
    finished = {"model": model, "variant": "champion", "tier": "free"}
    counted = sum(
        sample(registry, "melancia_inference_queries_total", **finished, finish_reason=f) or 0
        for f in ("stop", "length")
    )
    assert counted == 1
    assert sample(registry, "melancia_inference_capacity") == 3


async def test_a_promotion_and_a_rollback_change_the_served_model_info(
    settings: InferenceSettings, adapter: Path
) -> None:
    registry = CollectorRegistry()
    _, broker, runtime = create_app(settings, BUS, registry)
    runtime.service = service = load_service(settings, runtime.telemetry)
    runtime.swapper = load_swapper(service, settings, datetime.now(UTC))
    service.report_serving()
    model = service.model_name
    before = {"model": model, "variant": "champion", "adapter": "none", "version": "none"}
    after = {"model": model, "variant": "champion", "adapter": "melancia-v7", "version": "7"}
    back = {"model": model, "variant": "champion", "adapter": "none", "version": "base"}
    promoted = ModelPromoted(
        model_name="melancia", version="7", base_model="tiny", adapter_uri=str(adapter)
    )
    rolled = ModelRolledBack(
        model_name="melancia", version="base", from_version="7", base_model="tiny"
    )
    assert sample(registry, INFO, **before) == 1

    async with TestKafkaBroker(broker) as br:
        await emit(br, MODEL_PROMOTED, make_event(promoted, source="t"), key="melancia")
        assert sample(registry, INFO, **after) == 1
        assert sample(registry, INFO, **before) is None
        await emit(br, MODEL_ROLLED_BACK, make_event(rolled, source="t"), key="melancia")
        assert sample(registry, INFO, **back) == 1
        assert sample(registry, INFO, **after) is None

    base = {"model": model, "variant": "base", "adapter": "none", "version": "none"}
    assert sample(registry, INFO, **base) == 1


async def test_the_app_reports_what_it_serves_and_runs_the_lag_monitor_until_it_stops(
    settings: InferenceSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = CollectorRegistry()
    loaded_with: list[InferenceTelemetry | None] = []
    service = load_service(settings)

    def fake_load_service(_: InferenceSettings, telemetry: InferenceTelemetry | None = None) -> Any:
        loaded_with.append(telemetry)
        service.telemetry = telemetry or service.telemetry
        return service

    async def no_topics(*_: Any) -> None: ...

    monkeypatch.setattr(inference_app, "load_service", fake_load_service)
    monkeypatch.setattr(inference_app, "load_swapper", lambda *_: None)
    monkeypatch.setattr(inference_app, "ensure_topics", no_topics)
    # Nothing listens there: the monitor must count failed measurements and keep going.
    bus = BusSettings(bootstrap=f"127.0.0.1:{free_port()}")
    app, broker, runtime = create_app(settings, bus, registry)

    async with TestKafkaBroker(broker), TestApp(app):
        assert loaded_with == [runtime.telemetry]
        champion = {"variant": "champion", "adapter": "none", "version": "none"}
        assert sample(registry, INFO, model=service.model_name, **champion) == 1
        [monitor] = [t for t in asyncio.all_tasks() if t.get_name() == "consumer-lag"]
        errors = "melancia_consumer_lag_errors_total"
        async with asyncio.timeout(30):
            while not sample(registry, errors, group="melancia-inference"):
                await asyncio.sleep(0.05)
    assert monitor.done()

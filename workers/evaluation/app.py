"""The evaluation worker: one FastStream app; the benchmark and MLflow open in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from faststream import FastStream
from faststream.kafka import KafkaBroker
from prometheus_client import CollectorRegistry, start_http_server

from events.admin import ensure_topics
from events.broker import build_broker
from events.settings import BusSettings
from events.topics import all_topics
from workers.evaluation.handlers import Runtime, register
from workers.evaluation.service import EvaluationService
from workers.evaluation.settings import EvaluationSettings
from workers.evaluation.telemetry import EvaluationTelemetry

logger = logging.getLogger(__name__)


def create_app(
    settings: EvaluationSettings | None = None,
    bus: BusSettings | None = None,
    registry: CollectorRegistry | None = None,
) -> tuple[FastStream, KafkaBroker, Runtime]:
    """Build the worker app; nothing heavy happens until it runs."""
    settings = settings or EvaluationSettings()
    bus = bus or BusSettings()
    registry = registry or CollectorRegistry()
    broker, _ = build_broker(bus, service="evaluation", registry=registry)
    runtime = Runtime(telemetry=EvaluationTelemetry(registry))
    register(broker, runtime, settings)

    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        runtime.service = await asyncio.to_thread(build_service, settings)
        try:
            yield
        finally:
            runtime.service = None

    async def on_startup() -> None:
        await ensure_topics(bus, all_topics())

    app = FastStream(broker, lifespan=lifespan, on_startup=[on_startup])
    return app, broker, runtime


def build_service(settings: EvaluationSettings) -> EvaluationService:
    """Read the benchmark and the test split, open MLflow (runs in a thread)."""
    from data.pipeline import load_benchmark, load_split
    from workers.evaluation.runner import EvalConfig, ModelEvaluator, select_items
    from workers.registry import tracking
    from workers.registry.gate import GatePolicy

    if settings.eval_torch_threads:
        import torch

        torch.set_num_threads(settings.eval_torch_threads)
    items = select_items(load_benchmark(), settings.eval_per_category, seed=settings.eval_seed)
    items = items[: settings.eval_max_questions]
    subset = (
        f"{len(items)} questions, {settings.eval_per_category} per category, seed {settings.eval_seed}"
        if settings.eval_per_category
        else f"all {len(items)} questions"
    )
    evaluator = ModelEvaluator(
        EvalConfig(
            models_dir=settings.models_dir,
            max_new_tokens=settings.eval_max_new_tokens,
            perplexity_records=settings.eval_perplexity_records,
            bertscore=settings.eval_bertscore,
            bertscore_model=settings.eval_bertscore_model,
            bertscore_layers=settings.eval_bertscore_layers,
            dtype=settings.eval_dtype,
        )
    )
    uri = tracking.tracking_uri(settings.home, settings.mlflow_uri)
    client = tracking.client(settings.home, settings.mlflow_uri)
    experiment = tracking.experiment_id(
        client, settings.home, settings.eval_experiment, server=settings.mlflow_uri is not None
    )
    logger.info("evaluation on %s; MLflow at %s", subset, uri)
    return EvaluationService(
        evaluator=evaluator,
        items=items,
        test_records=load_split("test"),
        client=client,
        experiment_id=experiment,
        adapter_cache=settings.adapter_cache,
        tracking_uri=uri,
        policy=GatePolicy(
            primary_metric=settings.gate_primary_metric,
            min_improvement=settings.gate_min_improvement,
            category_tolerance=settings.gate_category_tolerance,
            min_category_questions=settings.gate_min_category_questions,
        ),
        promote_to=settings.gate_promote_to,
        subset=subset,
    )


def main() -> int:
    """Entry point of `melancia worker evaluation`."""
    settings = EvaluationSettings()
    registry = CollectorRegistry()
    app, _, _ = create_app(settings, registry=registry)
    if settings.metrics_port is not None:
        start_http_server(settings.metrics_port, addr=settings.metrics_host, registry=registry)
    asyncio.run(app.run())
    return 0

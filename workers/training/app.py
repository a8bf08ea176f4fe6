"""The training worker: one FastStream app; models load per job, inside the job."""

from __future__ import annotations

import asyncio
import logging

from faststream import FastStream
from faststream.kafka import KafkaBroker
from prometheus_client import CollectorRegistry, start_http_server

from events.admin import ensure_topics
from events.broker import build_broker
from events.settings import BusSettings
from events.topics import all_topics
from workers.training.handlers import register
from workers.training.job import JobConfig
from workers.training.service import TrainingService
from workers.training.settings import TrainingSettings
from workers.training.telemetry import TrainingTelemetry

logger = logging.getLogger(__name__)


def job_config(settings: TrainingSettings) -> JobConfig:
    """What a job needs from the worker's settings."""
    return JobConfig(
        home=settings.home,
        mlflow_uri=settings.mlflow_uri,
        registry_model_name=settings.registry_model_name,
        stale_after_s=settings.training_stale_s,
        progress_interval_s=settings.training_progress_s,
        system_metrics=settings.mlflow_system_metrics,
        log_checkpoints=settings.mlflow_log_checkpoints,
    )


def create_app(
    settings: TrainingSettings | None = None,
    bus: BusSettings | None = None,
    service: TrainingService | None = None,
    registry: CollectorRegistry | None = None,
) -> tuple[FastStream, KafkaBroker, TrainingService]:
    """Build the worker app; nothing heavy happens until a job arrives."""
    settings = settings or TrainingSettings()
    bus = bus or BusSettings()
    registry = registry or CollectorRegistry()
    broker, _ = build_broker(bus, service="training", registry=registry)
    service = service or TrainingService(
        job_config(settings), telemetry=TrainingTelemetry(registry)
    )
    register(broker, service, settings)

    async def on_startup() -> None:
        await ensure_topics(bus, all_topics())
        if settings.register_shipped_adapter:
            await asyncio.to_thread(_register_shipped, settings)

    async def on_shutdown() -> None:
        # Runs before the broker stops: a running job checkpoints at its next step and its
        # request stays uncommitted, to be resumed by whichever worker gets it next.
        service.close()

    app = FastStream(broker, on_startup=[on_startup], on_shutdown=[on_shutdown])
    return app, broker, service


def _register_shipped(settings: TrainingSettings) -> None:
    from workers.training.shipped import register_shipped_if_empty, shipped_adapters

    for adapter_dir in shipped_adapters()[:1]:
        try:
            register_shipped_if_empty(
                settings.home, settings.mlflow_uri, settings.registry_model_name, adapter_dir
            )
        except Exception:
            # The registry is a convenience for serving; training works without it.
            logger.warning("could not register the shipped adapter %s", adapter_dir, exc_info=True)


def main() -> int:
    """Entry point of `melancia worker training`."""
    settings = TrainingSettings()
    if settings.torch_threads:
        import torch

        torch.set_num_threads(settings.torch_threads)
    registry = CollectorRegistry()
    app, _, _ = create_app(settings, registry=registry)
    if settings.metrics_port is not None:
        start_http_server(settings.metrics_port, addr=settings.metrics_host, registry=registry)
    asyncio.run(app.run())
    return 0

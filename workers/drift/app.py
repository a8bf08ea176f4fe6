"""The drift worker: river detectors on the query log and feedback, and the retrain policy."""

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
from workers.drift import checkpoint
from workers.drift.engine import DriftEngine, EngineConfig
from workers.drift.handlers import Runtime, register
from workers.drift.metrics import DriftMetrics
from workers.drift.policy import PolicyConfig, RetrainPolicy
from workers.drift.settings import DriftSettings

logger = logging.getLogger(__name__)


def current_dataset_version() -> str:
    """The version of the built dataset a retrain would use (data/datasets/metadata.json)."""
    from data.pipeline.loaders import dataset_version

    try:
        return dataset_version()
    except FileNotFoundError:
        logger.warning("no built dataset (run `melancia dataset build`); version 'unversioned'")
        return "unversioned"


def engine_config(settings: DriftSettings) -> EngineConfig:
    return EngineConfig(
        signals=tuple(settings.drift_signals),
        reference_size=settings.drift_reference_size,
        window=settings.drift_window,
        check_every=settings.drift_check_every,
        cooldown=settings.drift_cooldown_events,
        alpha=settings.drift_alpha,
    )


def policy_config(settings: DriftSettings) -> PolicyConfig:
    return PolicyConfig(
        enabled=settings.retrain_enabled,
        detections=settings.retrain_detections,
        window_s=settings.retrain_window_s,
        cooldown_s=settings.retrain_cooldown_s,
        base_model=settings.retrain_base_model,
        method=settings.retrain_method,
        hyperparameters=settings.retrain_hyperparameters,
    )


def load_state(settings: DriftSettings) -> checkpoint.DriftState:
    """The checkpointed state (policy settings refreshed), or a fresh one."""
    state = checkpoint.load(settings.state_path)
    if state is None:
        return checkpoint.DriftState(
            DriftEngine(engine_config(settings)), RetrainPolicy(policy_config(settings))
        )
    state.policy.config = policy_config(settings)
    logger.info(
        "resumed drift state from %s: %d events, %d monitors",
        settings.state_path,
        state.engine.events,
        len(state.engine.monitors),
    )
    return state


def create_app(
    settings: DriftSettings | None = None,
    bus: BusSettings | None = None,
    registry: CollectorRegistry | None = None,
) -> tuple[FastStream, KafkaBroker, Runtime]:
    """Build the worker app; the state loads in the lifespan and is saved when it stops."""
    settings = settings or DriftSettings()
    bus = bus or BusSettings()
    registry = registry or CollectorRegistry()
    broker, _ = build_broker(bus, service="drift", registry=registry)
    runtime = Runtime(
        state_path=settings.state_path,
        checkpoint_every=settings.drift_checkpoint_every,
        metrics=DriftMetrics(registry),
        dataset_version=current_dataset_version,
    )
    register(broker, runtime, settings)
    tasks: list[asyncio.Task[None]] = []

    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        runtime.state = await asyncio.to_thread(load_state, settings)
        try:
            yield
        finally:
            runtime.save()  # the broker has stopped: nothing is being applied any more
            runtime.state = None

    async def on_startup() -> None:
        await ensure_topics(bus, all_topics())

    async def after_startup() -> None:
        tasks.append(asyncio.create_task(_periodic_save(runtime, settings.drift_checkpoint_s)))

    async def on_shutdown() -> None:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = FastStream(
        broker,
        lifespan=lifespan,
        on_startup=[on_startup],
        after_startup=[after_startup],
        on_shutdown=[on_shutdown],
    )
    return app, broker, runtime


async def _periodic_save(runtime: Runtime, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        if runtime.pending:
            runtime.save()


def main() -> int:
    """Entry point of `melancia worker drift`."""
    settings = DriftSettings()
    registry = CollectorRegistry()
    app, _, _ = create_app(settings, registry=registry)
    port = settings.served_metrics_port
    if port is not None:
        start_http_server(port, addr=settings.metrics_host, registry=registry)
    asyncio.run(app.run())
    return 0

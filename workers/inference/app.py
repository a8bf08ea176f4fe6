"""The inference worker: one FastStream app; the model is loaded in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from aiokafka.errors import KafkaError
from faststream import FastStream
from faststream.kafka import KafkaBroker
from prometheus_client import CollectorRegistry, start_http_server

from events.admin import ensure_topics
from events.broker import build_broker
from events.bus import emit
from events.settings import BusSettings
from events.topics import WORKER_HEARTBEAT, all_topics
from melancia import heap
from schemas.envelope import make_event
from schemas.ops import WorkerHeartbeat
from workers.inference.handlers import Runtime, register
from workers.inference.index import IndexUnavailable
from workers.inference.lag import start_lag_monitor
from workers.inference.retrieval import Retriever
from workers.inference.service import InferenceService
from workers.inference.settings import InferenceSettings
from workers.inference.telemetry import InferenceTelemetry
from workers.inference.variants import Swapper, Variants

logger = logging.getLogger(__name__)


def create_app(
    settings: InferenceSettings | None = None,
    bus: BusSettings | None = None,
    registry: CollectorRegistry | None = None,
) -> tuple[FastStream, KafkaBroker, Runtime]:
    """Build the worker app; nothing heavy happens until it runs."""
    settings = settings or InferenceSettings()
    bus = bus or BusSettings()
    registry = registry or CollectorRegistry()
    broker, _ = build_broker(bus, service="inference", registry=registry)
    runtime = Runtime(telemetry=InferenceTelemetry(registry))
    runtime.telemetry.capacity.set(settings.inference_concurrency)
    register(broker, runtime, settings, bus)
    started_at = datetime.now(UTC)
    tasks: list[asyncio.Task[None]] = []

    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        # The model, tokenizer and index stay for the process: kept out of every collection.
        with heap.loading():
            runtime.service = await asyncio.to_thread(load_service, settings, runtime.telemetry)
            runtime.swapper = await asyncio.to_thread(
                load_swapper, runtime.service, settings, datetime.now(UTC)
            )
            await runtime.service.warm_prefix()
        runtime.service.report_serving()
        try:
            yield
        finally:
            runtime.service = runtime.swapper = None
            heap.thaw()

    async def on_startup() -> None:
        await ensure_topics(bus, all_topics())

    async def after_startup() -> None:
        tasks.append(asyncio.create_task(_heartbeat(broker, runtime, settings, started_at)))
        tasks.append(start_lag_monitor(bus, registry))

    async def on_shutdown() -> None:
        for task in tasks:
            task.cancel()
        # A task that died of an error must not stop the shutdown; it is reported here once.
        for outcome in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(outcome, Exception):
                logger.error("background task failed: %r", outcome)

    app = FastStream(
        broker,
        lifespan=lifespan,
        on_startup=[on_startup],
        after_startup=[after_startup],
        on_shutdown=[on_shutdown],
    )
    return app, broker, runtime


def load_service(
    settings: InferenceSettings, telemetry: InferenceTelemetry | None = None
) -> InferenceService:
    """Load the model and wrap it in the service (runs in a thread: it takes seconds)."""
    import torch

    from workers.inference.engine import GenerationEngine
    from workers.inference.models import load_model
    from workers.inference.service import InferenceService

    # The index first: an unreachable Qdrant fails the start before the model loads.
    retriever = load_retriever(settings)
    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)
    loaded = load_model(
        settings.base_model,
        settings.models_dir,
        adapter_dir=settings.adapter_dir,
        dtype=settings.dtype,
    )
    if settings.adapter_dir is not None:
        from workers.inference.prompting import CHAT_TEMPLATE
        from workers.registry.adapters import check_template

        # Serve with the chat template the adapter was trained with, or refuse to start.
        check_template(settings.adapter_dir, loaded.tokenizer, default_template=CHAT_TEMPLATE)
    logger.info("serving %s (adapter: %s)", loaded.name, loaded.adapter)
    engine = GenerationEngine(
        loaded,
        max_concurrency=settings.inference_concurrency,
        merge_adapters=settings.merge_adapters,
    )
    return InferenceService(
        engine=engine,
        variants=Variants(engine, max_resident=settings.max_resident_adapters),
        model_name=loaded.name,
        worker_id=settings.worker_id,
        coalesce_s=settings.coalesce_ms / 1000,
        max_new_tokens_cap=settings.max_new_tokens_cap,
        few_shot=settings.few_shot,
        retriever=retriever,
        telemetry=telemetry,
    )


def load_swapper(
    service: InferenceService, settings: InferenceSettings, started_at: datetime
) -> Swapper:
    """Follow promotions from now on, starting from what the registry serves (if it can say)."""
    from workers.registry import tracking
    from workers.registry.promotion import serving_state

    swapper = Swapper(
        service.variants,
        model_name=settings.registry_model_name,
        base_model=settings.base_model,
        adapter_cache=settings.home / "adapters",
        tracking_uri=tracking.tracking_uri(settings.home, settings.mlflow_uri),
        started_at=started_at,
    )
    if settings.serve_registry:
        state = serving_state(
            settings.home, settings.mlflow_uri, settings.registry_model_name, settings.base_model
        )
        for promotion in state:
            swapper.promoted(promotion, started_at)
    return swapper


def load_retriever(settings: InferenceSettings) -> Retriever | None:
    """Open the index (raising IndexUnavailable with the reason) and wrap it in a Retriever."""
    if not settings.retrieval:
        logger.info("retrieval is off (MELANCIA_RETRIEVAL=false): answers are not grounded")
        return None
    from data.pipeline import load_corpus
    from workers.inference.embedding import UseEmbedder
    from workers.inference.index import open_index

    embedder = UseEmbedder(threads=settings.embedding_threads)
    client = open_index(
        url=settings.qdrant_url,
        path=settings.qdrant_dir,
        collection=settings.qdrant_collection,
        embedder=embedder,
        corpus=load_corpus if settings.retrieval_auto_index else None,
        chunk_words=settings.chunk_words,
        chunk_overlap=settings.chunk_overlap,
    )
    embedder.warm_up()
    return Retriever(
        client,
        settings.qdrant_collection,
        embedder,
        top_k=settings.retrieval_top_k,
        min_score=settings.retrieval_min_score,
        lexical_weight=settings.retrieval_lexical_weight,
    )


async def _heartbeat(
    broker: KafkaBroker, runtime: Runtime, settings: InferenceSettings, started_at: datetime
) -> None:
    while True:
        service = runtime.service
        if service is not None:
            beat = WorkerHeartbeat(
                worker_id=settings.worker_id,
                models=[service.model_name],
                variants=service.variants.advertised(),
                in_flight=service.cancellations.running,
                capacity=settings.inference_concurrency,
                interval_s=settings.heartbeat_s,
                started_at=started_at,
            )
            try:
                await emit(
                    broker,
                    WORKER_HEARTBEAT,
                    make_event(beat, source=settings.worker_id),
                    key=settings.worker_id,
                )
            except (KafkaError, OSError) as exc:
                # A missed beat only makes gateways wait; the next one may get through.
                logger.warning("heartbeat publish failed: %s", exc)
        await asyncio.sleep(settings.heartbeat_s)


def main() -> int:
    """Entry point of `melancia worker inference`."""
    settings = InferenceSettings()
    registry = CollectorRegistry()
    app, _, _ = create_app(settings, registry=registry)
    if settings.metrics_port is not None:
        start_http_server(settings.metrics_port, addr=settings.metrics_host, registry=registry)
    try:
        asyncio.run(app.run())
    except IndexUnavailable as exc:
        logger.error("cannot start: the retrieval index is unavailable: %s", exc)
        return 1
    return 0

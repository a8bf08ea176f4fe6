"""One fine-tuning job, start to finish: checks, data, model, Trainer, adapter, MLflow.

Runs in a worker thread (or in `melancia train --local`); never touches the broker. Progress
leaves through `on_progress`; a `stop` event checkpoints and raises JobInterrupted so the
request can be redelivered and resumed from that checkpoint.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from schemas.training import TrainingCompleted, TrainingProgress, TrainingRequested
from workers.registry import tags
from workers.registry.adapters import write_card
from workers.training.callbacks import ProgressSink
from workers.training.data import DatasetUnavailable, load_job_data
from workers.training.errors import JobBusy, JobInterrupted, JobRejected
from workers.training.methods import Hardware, MethodUnavailable, check_supported, precision
from workers.training.run import Outcome, train_adapter
from workers.training.tracking import NullTracker, Previous, RunTracker, this_process

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobConfig:
    """Where a job keeps its state and how it reports; built from TrainingSettings."""

    home: Path
    mlflow_uri: str | None = None
    registry_model_name: str = tags.MODEL_NAME
    owner: str = field(default_factory=this_process)
    source: str = "training"
    stale_after_s: float = 600.0
    progress_interval_s: float = 5.0
    system_metrics: bool = True
    log_checkpoints: bool = True
    sparse_logits: bool = True
    dataset_root: Path | None = None
    models_dir: Path | None = None  # default: home/models

    def job_dir(self, job_id: str) -> Path:
        return self.home / "training" / job_id

    @property
    def model_cache(self) -> Path:
        return self.models_dir or self.home / "models"


def _noop(_: TrainingProgress) -> None: ...


def run_job(
    request: TrainingRequested,
    config: JobConfig,
    *,
    on_progress: ProgressSink = _noop,
    stop: threading.Event | None = None,
    hardware: Hardware | None = None,
) -> TrainingCompleted:
    """Train (or resume, or recognise as already done) the requested adapter."""
    hardware = hardware or Hardware.detect()
    hp = request.hyperparameters
    try:
        check_supported(request.method, hardware)
        chosen_precision = precision(hp.precision, hardware)
    except MethodUnavailable as exc:
        raise JobRejected(str(exc)) from exc
    main = _is_main_process()
    client = experiment_id = previous = None
    if main:
        client, experiment_id = RunTracker.store(config.home, config.mlflow_uri)
        previous = RunTracker.previous(client, experiment_id, request.idempotency_key)
        if previous is not None and previous.finished:
            logger.info(
                "key %s was already trained by run %s", request.idempotency_key, previous.run_id
            )
            return _completed_from(previous, request, config.registry_model_name)
        if previous is not None and previous.alive_elsewhere(
            stale_after_s=config.stale_after_s, me=config.owner
        ):
            raise JobBusy(f"run {previous.run_id} is training this key in another process")
    try:
        data = load_job_data(
            request.dataset_version,
            train_limit=hp.train_limit,
            eval_limit=hp.eval_limit,
            seed=hp.seed,
            root=config.dataset_root,
        )
    except DatasetUnavailable as exc:
        raise JobRejected(str(exc)) from exc
    job_id = (previous.job_id if previous else None) or request.job_id
    tracker: RunTracker | NullTracker = NullTracker()
    if main:
        tracker = RunTracker.start(
            client,
            str(experiment_id),
            run_tags={
                tags.JOB_ID: job_id,
                tags.IDEMPOTENCY_KEY: request.idempotency_key,
                tags.BASE_MODEL: request.base_model,
                tags.METHOD: request.method,
                tags.DATASET_VERSION: data.version,
                tags.SOURCE: config.source,
                "reason": request.reason,
                "requested_by": request.requested_by,
            },
            run_name=job_id,
            owner=config.owner,
            resume=previous,
        )
        if config.system_metrics:
            tracker.start_system_metrics()
    try:
        outcome = train_adapter(
            request,
            data,
            job_id=job_id,
            output_dir=config.job_dir(job_id),
            precision=chosen_precision,
            hardware=hardware,
            tracker=tracker,
            log_params=previous is None,
            config=config,
            on_progress=on_progress,
            stop=stop or threading.Event(),
        )
    except JobInterrupted:
        if isinstance(tracker, RunTracker):
            tracker.release()
        raise
    except BaseException:
        if isinstance(tracker, RunTracker):
            tracker.finish("FAILED")
        raise
    if not isinstance(tracker, RunTracker):
        return outcome.completed(request, model_name=config.registry_model_name)
    return _publish_adapter(tracker, outcome, request, config)


def _publish_adapter(
    tracker: RunTracker, outcome: Outcome, request: TrainingRequested, config: JobConfig
) -> TrainingCompleted:
    """Log the adapter, register it as a model version, close the run."""
    outcome.card.run_id = tracker.run_id
    write_card(outcome.adapter_dir, outcome.card)
    adapter_uri = tracker.log_artifacts(outcome.adapter_dir, "adapter")
    version = _register(tracker, outcome, request, adapter_uri, config)
    tracker.set_tags(
        {
            tags.MODEL_VERSION: version,
            tags.ADAPTER_URI: adapter_uri,
            tags.TEMPLATE_VERSION: outcome.card.template_version,
        }
    )
    tracker.log_metrics({f"final_{k}": v for k, v in outcome.metrics.items()}, step=0)
    tracker.finish("FINISHED")
    return outcome.completed(
        request,
        model_name=config.registry_model_name,
        adapter_uri=adapter_uri,
        version=version,
        run_id=tracker.run_id,
    )


def _register(
    tracker: RunTracker,
    outcome: Outcome,
    request: TrainingRequested,
    adapter_uri: str,
    config: JobConfig,
) -> str:
    from workers.registry import versions

    return versions.register_version(
        tracker.client,
        name=config.registry_model_name,
        source=adapter_uri,
        run_id=tracker.run_id,
        version_tags={
            tags.BASE_MODEL: request.base_model,
            tags.METHOD: request.method,
            tags.DATASET_VERSION: outcome.card.dataset_version,
            tags.TEMPLATE_VERSION: outcome.card.template_version,
            tags.SOURCE: config.source,
            tags.JOB_ID: request.job_id,
            tags.ADAPTER_URI: adapter_uri,
            "eval_loss": f"{outcome.metrics.get('eval_loss', float('nan')):.4f}",
        },
        description=f"{request.method} adapter of {request.base_model} on {outcome.card.dataset_version}",
    )


def _completed_from(
    previous: Previous, request: TrainingRequested, model_name: str
) -> TrainingCompleted:
    """The answer to a duplicate request: what the first run of its key produced."""
    run_tags = previous.run.data.tags
    metrics = {
        k.removeprefix("final_"): float(v)
        for k, v in previous.run.data.metrics.items()
        if k.startswith("final_")
    }
    return TrainingCompleted(
        job_id=request.job_id,
        base_model=run_tags.get(tags.BASE_MODEL, request.base_model),
        method=run_tags.get(tags.METHOD, request.method),
        dataset_version=run_tags.get(tags.DATASET_VERSION, request.dataset_version),
        adapter_uri=run_tags.get(tags.ADAPTER_URI, ""),
        model_name=model_name,
        model_version=run_tags.get(tags.MODEL_VERSION),
        run_id=previous.run_id,
        metrics=metrics,
        template_version=run_tags.get(tags.TEMPLATE_VERSION),
        duplicate_of=previous.job_id,
    )


def _is_main_process() -> bool:
    from accelerate import PartialState

    return bool(PartialState().is_main_process)

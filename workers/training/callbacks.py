"""Trainer callbacks: progress events, MLflow logging, stop requests and the time budget."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from transformers import TrainerCallback

from schemas.training import TrainingProgress

logger = logging.getLogger(__name__)

ProgressSink = Callable[[TrainingProgress], None]


class ProgressCallback(TrainerCallback):
    """Turns Trainer logs into TrainingProgress at a steady pace (always after an evaluation)."""

    def __init__(self, job_id: str, sink: ProgressSink, *, interval_s: float) -> None:
        self.job_id, self.sink, self.interval_s = job_id, sink, interval_s
        self.latest: dict[str, float] = {}
        self.resumed_from: int | None = None
        self._start = (0.0, 0, 0)  # wall time, step, tokens when this train() call began
        self._sent_at = 0.0

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._start = (time.monotonic(), state.global_step, state.num_input_tokens_seen or 0)
        self.resumed_from = state.global_step or None

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        logs = logs or {}
        for key in ("loss", "eval_loss", "learning_rate"):
            if isinstance(logs.get(key), int | float):
                self.latest[key] = float(logs[key])
        now = time.monotonic()
        if "eval_loss" in logs or now - self._sent_at >= self.interval_s:
            self.emit(state, phase="training")

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.emit(state, phase="saving")

    def emit(self, state: Any, *, phase: str) -> None:
        started, step0, tokens0 = self._start
        elapsed = time.monotonic() - started
        done = state.global_step - step0
        tokens = (state.num_input_tokens_seen or 0) - tokens0
        remaining = max(state.max_steps - state.global_step, 0)
        self.sink(
            TrainingProgress(
                job_id=self.job_id,
                step=state.global_step,
                total_steps=max(state.max_steps, 0),
                epoch=float(state.epoch or 0.0),
                loss=self.latest.get("loss"),
                eval_loss=self.latest.get("eval_loss"),
                learning_rate=self.latest.get("learning_rate"),
                tokens_per_s=round(tokens / elapsed, 2) if elapsed > 0 and tokens else None,
                eta_s=round(elapsed / done * remaining, 1) if done else None,
                phase=phase,  # type: ignore[arg-type]
                resumed_from_step=self.resumed_from,
            )
        )
        self._sent_at = time.monotonic()


class MlflowCallback(TrainerCallback):
    """Per-step metrics, a liveness heartbeat and the checkpoints, into the job's MLflow run."""

    def __init__(self, tracker: Any) -> None:
        self.tracker = tracker

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            metrics = {k: float(v) for k, v in (logs or {}).items() if isinstance(v, int | float)}
            if state.num_input_tokens_seen:
                metrics["tokens_seen"] = float(state.num_input_tokens_seen)
            self.tracker.log_metrics(metrics, step=state.global_step)

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            self.tracker.heartbeat()

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            self.tracker.log_checkpoint(args.output_dir, state.global_step)


class ControlCallback(TrainerCallback):
    """Stops with a checkpoint when asked or out of time; always evaluates the final step."""

    def __init__(self, stop: threading.Event, max_duration_s: float | None) -> None:
        self.stop, self.max_duration_s = stop, max_duration_s
        self.interrupted = False
        self.out_of_time = False
        self._started = time.monotonic()

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._started = time.monotonic()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self.stop.is_set():
            self.interrupted = True
            control.should_save = True
            control.should_training_stop = True
            logger.info("stop requested: checkpointing step %d and stopping", state.global_step)
            return control
        spent = time.monotonic() - self._started
        if self.max_duration_s is not None and spent >= self.max_duration_s:
            self.out_of_time = True
            control.should_training_stop = True
            logger.info("time budget of %.0f s spent at step %d", spent, state.global_step)
        if control.should_training_stop or state.global_step >= state.max_steps:
            # The last step is evaluated and saved even off the eval cadence, so the best-model
            # choice at the end sees it.
            if args.eval_strategy != "no":
                control.should_evaluate = True
            control.should_save = True
        return control

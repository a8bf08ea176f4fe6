"""One job's MLflow run: find it by idempotency key, log into it, register its adapter."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workers.registry import tags, tracking, versions

logger = logging.getLogger(__name__)

# Resume state that only the local checkpoint needs; the MLflow copy keeps weights and state.
_LOCAL_ONLY = ("optimizer.pt", "scheduler.pt", "rng_state.pth", "training_args.bin")
_HEARTBEAT_EVERY_S = 30.0


def this_process() -> str:
    """Owner id of a run: host:pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Previous:
    """The newest run that already took this idempotency key."""

    run: Any

    @property
    def run_id(self) -> str:
        return str(self.run.info.run_id)

    @property
    def finished(self) -> bool:
        return bool(self.run.info.status == "FINISHED" and tags.MODEL_VERSION in self.run.data.tags)

    @property
    def job_id(self) -> str | None:
        return self.run.data.tags.get(tags.JOB_ID)

    def alive_elsewhere(self, *, stale_after_s: float, me: str) -> bool:
        """Another live process is training this run right now."""
        if self.run.info.status != "RUNNING":
            return False
        owner = self.run.data.tags.get(tags.OWNER, "")
        if owner == me:
            return False
        host, _, pid = owner.rpartition(":")
        if host == socket.gethostname() and pid.isdigit():
            return _pid_alive(int(pid))
        beat = float(self.run.data.tags.get(tags.HEARTBEAT_AT, "0") or 0)
        return time.time() - beat < stale_after_s


class RunTracker:
    """Logs one job into MLflow. Thread-safe enough for Trainer callbacks (one writer thread)."""

    def __init__(self, client: Any, experiment_id: str, run_id: str, owner: str) -> None:
        self.client, self.experiment_id, self.run_id, self.owner = (
            client,
            experiment_id,
            run_id,
            owner,
        )
        self._beat_at = 0.0
        self._monitor: Any = None

    @classmethod
    def store(cls, home: Path, server_uri: str | None) -> tuple[Any, str]:
        """Client and experiment id of the training experiment."""
        client = tracking.client(home, server_uri)
        return client, tracking.experiment_id(
            client, home, tags.EXPERIMENT, server=server_uri is not None
        )

    @staticmethod
    def previous(client: Any, experiment_id: str, idempotency_key: str) -> Previous | None:
        runs = versions.runs_with_tag(
            client, experiment_id, tags.IDEMPOTENCY_KEY, idempotency_key, max_results=1
        )
        return Previous(runs[0]) if runs else None

    @classmethod
    def start(
        cls,
        client: Any,
        experiment_id: str,
        *,
        run_tags: dict[str, str],
        run_name: str,
        owner: str,
        resume: Previous | None,
    ) -> RunTracker:
        """Reopen the previous run of this key, or create one."""
        if resume is not None:
            client.update_run(resume.run_id, status="RUNNING")
            tracker = cls(client, experiment_id, resume.run_id, owner)
        else:
            run = client.create_run(experiment_id, tags=run_tags, run_name=run_name)
            tracker = cls(client, experiment_id, run.info.run_id, owner)
        client.set_tag(tracker.run_id, tags.OWNER, owner)
        tracker.heartbeat()
        return tracker

    def start_system_metrics(self) -> None:
        """Sample CPU, memory (and GPU) into the run every 10 s from a daemon thread."""
        try:
            from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

            self._monitor = SystemMetricsMonitor(
                self.run_id,
                sampling_interval=10,
                resume_logging=True,
                tracking_uri=self.client.tracking_uri,
            )
            self._monitor.start()
        except Exception:
            logger.warning("system metrics are unavailable for this run", exc_info=True)

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:6000]) for k, v in sorted(params.items())]
        for start in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[start : start + 100])

    def set_tags(self, values: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in values.items()])

    def log_metrics(self, metrics: dict[str, float], *, step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, v, now, step) for k, v in metrics.items()]
        if items:
            self.client.log_batch(self.run_id, metrics=items)
        if time.monotonic() - self._beat_at > _HEARTBEAT_EVERY_S:
            self.heartbeat()

    def heartbeat(self) -> None:
        self.client.set_tag(self.run_id, tags.HEARTBEAT_AT, f"{time.time():.0f}")
        self._beat_at = time.monotonic()

    def log_checkpoint(self, output_dir: str, step: int) -> None:
        source = Path(output_dir) / f"checkpoint-{step}"
        if not source.is_dir():
            return
        with tempfile.TemporaryDirectory() as scratch:
            copy = Path(scratch) / source.name
            shutil.copytree(source, copy, ignore=shutil.ignore_patterns(*_LOCAL_ONLY))
            self.client.log_artifacts(self.run_id, str(copy), f"checkpoints/{source.name}")
        self.heartbeat()

    def log_artifacts(self, directory: Path, artifact_path: str) -> str:
        """Copy a directory into the run; returns its artifact URI."""
        self.client.log_artifacts(self.run_id, str(directory), artifact_path)
        return f"{self.client.get_run(self.run_id).info.artifact_uri}/{artifact_path}"

    def finish(self, status: str = "FINISHED") -> None:
        if self._monitor is not None:
            try:
                self._monitor.finish()
            except Exception:
                logger.warning("could not stop the system metrics monitor", exc_info=True)
            self._monitor = None
        self.client.set_terminated(self.run_id, status)

    def release(self) -> None:
        """Leave the run RUNNING but claimable at once (an interrupted job, to be resumed)."""
        if self._monitor is not None:
            self._monitor.finish()
            self._monitor = None
        self.set_tags({tags.OWNER: "", tags.HEARTBEAT_AT: "0"})


class NullTracker:
    """What ranks other than the main one log: nothing."""

    run_id: str | None = None

    def log_metrics(self, metrics: dict[str, float], *, step: int) -> None: ...
    def heartbeat(self) -> None: ...
    def log_checkpoint(self, output_dir: str, step: int) -> None: ...

"""Training worker settings (env prefix MELANCIA_)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _worker_id() -> str:
    return f"training-{socket.gethostname()}-{os.getpid()}"


class TrainingSettings(BaseSettings):
    """What the training worker reads from the environment."""

    model_config = SettingsConfigDict(env_prefix="MELANCIA_", extra="ignore")

    home: Path = Field(
        default=Path("var"), description="state directory (checkpoints, MLflow store)"
    )
    mlflow_uri: str | None = Field(
        default=None, description="MLflow tracking server; unset: SQLite under MELANCIA_HOME/mlflow"
    )
    registry_model_name: str = Field(
        default="melancia", description="registered model that adapters become versions of"
    )
    training_worker_id: str = Field(
        default_factory=_worker_id, description="identity of a training worker in logs and events"
    )
    torch_threads: int | None = Field(default=None, ge=1, description="torch intra-op threads")
    metrics_port: int | None = Field(
        default=None, ge=0, le=65535, description="serve /metrics on this port"
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="bind address of /metrics (0.0.0.0 in containers)"
    )
    training_progress_s: float = Field(
        default=5.0, gt=0, description="at most one training.progress event per this interval"
    )
    training_max_job_s: float = Field(
        default=6 * 3600.0,
        gt=0,
        description="longest job; the consumer's max_poll_interval_ms is set from it",
    )
    training_session_timeout_ms: int = Field(
        default=10_000, ge=1000, description="training consumer-group session timeout"
    )
    training_stale_s: float = Field(
        default=600.0,
        gt=0,
        description="a running job silent this long on another host is taken over",
    )
    training_busy_retry_s: float = Field(
        default=30.0, gt=0, description="wait before re-checking a job another worker runs"
    )
    mlflow_system_metrics: bool = Field(
        default=True, description="log CPU/memory/GPU system metrics to each run"
    )
    mlflow_log_checkpoints: bool = Field(
        default=True, description="copy every checkpoint into the run's artifacts"
    )
    register_shipped_adapter: bool = Field(
        default=True,
        description="register data/adapters/ as the first champion when the registry is empty",
    )

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def max_poll_interval_ms(self) -> int:
        # The handler holds the consumer for the whole job; Kafka must not evict it meanwhile.
        return int(self.training_max_job_s * 1000) + 60_000

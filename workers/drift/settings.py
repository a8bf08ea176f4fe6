"""Drift worker and retrain policy settings (env prefix MELANCIA_)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.training import Hyperparameters, Method

SIGNALS = (
    "latency_ms",
    "ttft_ms",
    "answer_tokens",
    "retrieval_score",
    "feedback_negative",
    "question_embedding",
)

# A retrain that drift asks for is small on purpose: the evaluation gate decides whether it helps.
# Small in steps and rows, not in sequence length: the system prompt alone takes about 190 tokens
# with Gemma's tokenizer and 260-310 with SmolLM2's, so 256 would cut most answers, or every row.
RETRAIN_DEFAULTS = Hyperparameters(
    rank=8, alpha=16, max_steps=60, batch_size=4, max_seq_len=512, train_limit=512, eval_steps=20
)


class DriftSettings(BaseSettings):
    """What the drift worker and its retrain policy read from the environment."""

    model_config = SettingsConfigDict(env_prefix="MELANCIA_", extra="ignore")

    home: Path = Field(default=Path("var"), description="state directory (caches, stores)")
    drift_state: Path | None = Field(
        default=None, description="detector checkpoint; unset: HOME/drift/state.pkl"
    )
    drift_signals: list[str] = Field(
        default=list(SIGNALS), description="signals to watch (JSON list)"
    )
    drift_reference_size: int = Field(
        default=300, ge=20, description="events that form each signal's reference"
    )
    drift_window: int = Field(
        default=100, ge=10, description="current window of the question-embedding test"
    )
    drift_check_every: int = Field(
        default=10, ge=1, description="events between two question-embedding tests"
    )
    drift_cooldown_events: int = Field(
        default=200, ge=0, description="events a monitor stays quiet after it fired"
    )
    drift_alpha: float = Field(
        default=1e-4, gt=0, lt=1, description="family-wise alpha of the question-embedding test"
    )
    drift_checkpoint_every: int = Field(
        default=500, ge=1, description="events between two checkpoints"
    )
    drift_checkpoint_s: float = Field(
        default=30.0, gt=0, description="max seconds between checkpoints"
    )
    drift_session_timeout_ms: int = Field(
        default=6000, ge=1000, description="consumer-group session timeout of the drift worker"
    )
    drift_metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="serve the drift worker's /metrics on this port; unset: MELANCIA_METRICS_PORT",
    )
    metrics_port: int | None = Field(
        default=None, ge=0, le=65535, description="serve /metrics on this port"
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="bind address of /metrics (0.0.0.0 in containers)"
    )
    retrain_enabled: bool = Field(
        default=True, description="let persistent drift request a retrain (false: only report)"
    )
    retrain_detections: int = Field(
        default=3, ge=1, description="detections within the window that make drift persistent"
    )
    retrain_window_s: float = Field(
        default=3600.0, gt=0, description="window over which detections are counted"
    )
    retrain_cooldown_s: float = Field(
        default=21600.0, ge=0, description="no new drift retrain this soon after the last one"
    )
    retrain_base_model: str | None = Field(
        default=None, description="model to fine-tune; unset: the model the drift was seen on"
    )
    retrain_method: Method = Field(default="lora", description="fine-tuning method of a retrain")
    retrain_hyperparameters: Hyperparameters = Field(
        default=RETRAIN_DEFAULTS,
        description="training config of a drift retrain (JSON; overrides the drift defaults)",
    )

    @field_validator("retrain_hyperparameters", mode="before")
    @classmethod
    def _overrides_on_the_defaults(cls, value: Any) -> Any:
        # As the gateway does with its recipe: `{"max_steps": 2}` changes the steps only.
        if isinstance(value, dict):
            return {**RETRAIN_DEFAULTS.model_dump(), **value}
        return value

    @property
    def served_metrics_port(self) -> int | None:
        """The drift worker's own port, else the one `melancia up` gives every worker."""
        return self.drift_metrics_port if self.drift_metrics_port is not None else self.metrics_port

    @property
    def state_path(self) -> Path:
        return self.drift_state or self.home / "drift" / "state.pkl"

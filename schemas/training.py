"""Fine-tuning events: request, progress, and the two outcomes."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.common import Identifier
from schemas.envelope import Payload

Method = Literal["lora", "qlora", "dora", "prefix", "prompt", "ia3"]


class Hyperparameters(BaseModel):
    """Training knobs; bounds reject values that cannot train (a rank of 0, say)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    rank: int = Field(default=16, ge=1, le=256)
    alpha: int = Field(default=32, ge=1, le=1024)
    dropout: float = Field(default=0.05, ge=0.0, lt=1.0)
    learning_rate: float = Field(default=2e-4, gt=0.0, le=1.0)
    epochs: float = Field(default=1.0, gt=0.0, le=100.0)
    max_steps: int | None = Field(default=None, ge=1)
    batch_size: int = Field(default=4, ge=1, le=512)
    gradient_accumulation: int = Field(default=1, ge=1, le=512)
    max_seq_len: int = Field(default=256, ge=16, le=8192)
    warmup_ratio: float = Field(default=0.03, ge=0.0, lt=1.0)
    eval_steps: int = Field(default=50, ge=1)
    early_stopping_patience: int | None = Field(default=3, ge=1)
    num_virtual_tokens: int = Field(default=20, ge=1, le=512)
    target_modules: list[str] | None = None
    train_limit: int | None = Field(default=None, ge=1, description="use only N training rows")
    seed: int = Field(default=42, ge=0)


class TrainingRequested(Payload):
    """gateway or drift policy → training: produce a fine-tuned adapter."""

    EVENT_TYPE: ClassVar[str] = "training.requested"
    job_id: Identifier
    idempotency_key: str = Field(min_length=1, max_length=200)
    base_model: str = Field(min_length=1)
    dataset_version: str = Field(min_length=1)
    method: Method = "lora"
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)
    reason: str = "manual"
    requested_by: str = "anonymous"
    evidence: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _key_defaults_to_job(cls, values: Any) -> Any:
        if isinstance(values, dict) and not values.get("idempotency_key"):
            return {**values, "idempotency_key": values.get("job_id", "")}
        return values


class TrainingProgress(Payload):
    """training → gateway: emitted at a steady pace while a job runs."""

    EVENT_TYPE: ClassVar[str] = "training.progress"
    job_id: Identifier
    step: int = Field(ge=0)
    total_steps: int = Field(ge=0)
    epoch: float = Field(ge=0)
    loss: float | None = None
    eval_loss: float | None = None
    learning_rate: float | None = None
    tokens_per_s: float | None = None
    eta_s: float | None = None


class TrainingCompleted(Payload):
    """training → evaluation: a candidate adapter exists and is registered."""

    EVENT_TYPE: ClassVar[str] = "training.completed"
    job_id: Identifier
    base_model: str
    method: Method
    dataset_version: str
    adapter_uri: str
    model_name: str
    model_version: str | None = None
    run_id: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)


class TrainingFailed(Payload):
    """training → gateway: the job ended without an adapter."""

    EVENT_TYPE: ClassVar[str] = "training.failed"
    job_id: Identifier
    reason: str
    retryable: bool = False

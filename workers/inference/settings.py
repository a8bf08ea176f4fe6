"""Inference worker settings (env prefix MELANCIA_)."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The fine-tuned adapter the repository ships per base model (trained by `make train-default`).
SHIPPED_ADAPTERS = {
    "gemma3-270m": Path(__file__).resolve().parents[2] / "data/adapters/melancia-gemma3-270m-lora"
}


def _worker_id() -> str:
    return f"inference-{socket.gethostname()}-{os.getpid()}"


class InferenceSettings(BaseSettings):
    """What the inference worker reads from the environment."""

    model_config = SettingsConfigDict(env_prefix="MELANCIA_", extra="ignore")

    base_model: str = Field(default="gemma3-270m", description="model name, local path or hub id")
    home: Path = Field(default=Path("var"), description="state directory (caches, stores)")
    adapter_dir: Path | None = Field(
        default=None,
        description="a PEFT adapter to serve; unset: the shipped one of the base model, if any",
    )
    shipped_adapter: bool = Field(
        default=True, description="serve data/adapters/<shipped> when no adapter_dir is set"
    )
    merge_adapters: bool = Field(
        default=True,
        description="serve LoRA adapters merged into the weights (base-model speed); false: unmerged",
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        default="auto",
        description="weights and activations; auto: bfloat16 where the CPU computes it natively "
        "(AVX512-BF16/AMX), else float32",
    )
    worker_id: str = Field(default_factory=_worker_id, description="identity in logs and events")
    inference_concurrency: int = Field(
        default=2, ge=1, le=32, description="queries generated at once (consumers in the group)"
    )
    coalesce_ms: float = Field(default=50.0, ge=0, le=500, description="token chunking window")
    heartbeat_s: float = Field(default=2.0, gt=0, description="worker heartbeat interval")
    torch_threads: int | None = Field(default=None, ge=1, description="torch intra-op threads")
    max_new_tokens_cap: int = Field(default=1024, ge=1, description="upper bound per answer")
    metrics_port: int | None = Field(
        default=None, ge=0, le=65535, description="serve /metrics on this port"
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="bind address of /metrics (0.0.0.0 in containers)"
    )
    few_shot: bool = Field(default=True, description="few-shot prompt when no adapter is loaded")
    session_timeout_ms: int = Field(
        default=6000, ge=1000, description="consumer-group session timeout"
    )
    retrieval: bool = Field(default=True, description="ground answers in the corpus index")
    qdrant_url: str | None = Field(
        default=None, description="Qdrant server; unset: local store in MELANCIA_HOME/qdrant"
    )
    qdrant_collection: str = Field(default="melancia-corpus", description="index collection")
    retrieval_top_k: int = Field(default=3, ge=1, le=10, description="articles put in the prompt")
    retrieval_min_score: float = Field(
        default=0.27, ge=-1, le=1, description="best cosine below this: out of scope"
    )
    retrieval_lexical_weight: float = Field(
        default=0.3, ge=0, le=2, description="weight of the BM25 boost"
    )
    retrieval_auto_index: bool = Field(
        default=True, description="local store: update the index from the corpus at start"
    )
    chunk_words: int = Field(default=120, ge=20, le=1000, description="words per passage")
    chunk_overlap: int = Field(default=30, ge=0, le=500, description="words shared by passages")
    embedding_threads: int = Field(default=1, ge=1, le=32, description="embedding BLAS threads")
    max_resident_adapters: int = Field(
        default=3, ge=1, le=32, description="adapters kept loaded (rollback targets included)"
    )
    registry_model_name: str = Field(
        default="melancia", description="registered model whose promotions this worker follows"
    )
    mlflow_uri: str | None = Field(
        default=None, description="MLflow tracking server; unset: SQLite under MELANCIA_HOME/mlflow"
    )
    serve_registry: bool = Field(
        default=True, description="at start, serve the registry's champion/challenger of this base"
    )

    @model_validator(mode="after")
    def _shipped_adapter_by_default(self) -> InferenceSettings:
        shipped = SHIPPED_ADAPTERS.get(self.base_model)
        present = shipped is not None and (shipped / "adapter_config.json").is_file()
        if self.adapter_dir is None and self.shipped_adapter and present:
            self.adapter_dir = shipped
        return self

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def qdrant_dir(self) -> Path:
        return self.home / "qdrant"

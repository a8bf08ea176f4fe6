"""Gateway settings (env prefix MELANCIA_)."""

from __future__ import annotations

import os
import socket

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_instance() -> str:
    return f"gw-{socket.gethostname()}-{os.getpid()}".replace(".", "-").lower()


class GatewaySettings(BaseSettings):
    """Everything the gateway reads from the environment."""

    model_config = SettingsConfigDict(env_prefix="MELANCIA_", extra="ignore")

    host: str = Field(default="127.0.0.1", description="gateway bind address")
    port: int = Field(default=8000, description="gateway port")
    gateway_instance: str = Field(
        default_factory=_default_instance, description="names this gateway's reply topic"
    )
    max_in_flight: int = Field(default=32, ge=1, description="admission bound on open queries")
    retry_after_s: int = Field(default=2, ge=1, description="Retry-After on 429/503")
    worker_wait_s: float = Field(default=5.0, gt=0, description="wait for a live worker, then 503")
    start_timeout_s: float = Field(default=60.0, gt=0, description="wait for a worker to pick up")
    idle_timeout_s: float = Field(default=60.0, gt=0, description="max silence inside a stream")
    resume_window_s: float = Field(default=120.0, ge=0, description="Last-Event-ID replay window")
    cancel_grace_s: float = Field(default=0.5, ge=0, description="wait for a resume before cancel")
    ping_interval_s: float = Field(default=10.0, gt=0, description="SSE keep-alive interval")
    recent_queries: int = Field(default=10_000, ge=10, description="queries kept for status")
    health_cache_s: float = Field(default=1.0, ge=0, description="broker probe cache")
    connect_retry_s: float = Field(default=1.0, gt=0, description="broker reconnect delay")

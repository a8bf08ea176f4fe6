"""Alerts worker settings (env prefix MELANCIA_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AlertsSettings(BaseSettings):
    """What the alerts worker reads from the environment."""

    model_config = SettingsConfigDict(env_prefix="MELANCIA_", extra="ignore")

    alerts_webhook_url: str | None = Field(
        default=None, description="Slack-compatible incoming webhook; unset: alerts are only logged"
    )
    alerts_queue_size: int = Field(
        default=100, ge=1, description="alerts waiting to be sent; when full the oldest is dropped"
    )
    alerts_max_attempts: int = Field(default=5, ge=1, description="deliveries tried per alert")
    alerts_backoff_s: float = Field(default=1.0, ge=0, description="first retry delay; doubles")
    alerts_backoff_max_s: float = Field(default=30.0, ge=0, description="longest retry delay")
    alerts_timeout_s: float = Field(default=5.0, gt=0, description="webhook request timeout")
    alerts_regression_threshold: float = Field(
        default=0.02, ge=0, description="per-category metric drop of a promoted model that alerts"
    )
    alerts_session_timeout_ms: int = Field(
        default=6000, ge=1000, description="consumer-group session timeout of the alerts worker"
    )
    metrics_port: int | None = Field(
        default=None, ge=0, le=65535, description="serve /metrics on this port"
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="bind address of /metrics (0.0.0.0 in containers)"
    )

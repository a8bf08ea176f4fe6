"""Analytics sink settings (env prefix MELANCIA_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AnalyticsSettings(BaseSettings):
    """What the analytics sink (and the readers of its store) read from the environment."""

    model_config = SettingsConfigDict(env_prefix="MELANCIA_", extra="ignore")

    home: Path = Field(default=Path("var"), description="state directory (caches, stores)")
    analytics_db: Path | None = Field(
        default=None, description="DuckDB file of the analytics store; unset: HOME/analytics.duckdb"
    )
    analytics_host: str = Field(
        default="127.0.0.1", description="bind address of the analytics HTTP endpoint"
    )
    analytics_port: int = Field(
        default=8010,
        ge=0,
        le=65535,
        description="port of the analytics HTTP endpoint (/stats, /archive, /metrics)",
    )
    analytics_batch_size: int = Field(
        default=500, ge=1, le=50_000, description="max events written per DuckDB transaction"
    )
    analytics_batch_timeout_ms: int = Field(
        default=500, ge=1, description="max wait to fill a batch before writing"
    )
    token_prices: dict[str, float] = Field(
        default={"*": 0.0005},
        description='price per 1k tokens by model, JSON; "*" is the default',
    )
    analytics_session_timeout_ms: int = Field(
        default=6000, ge=1000, description="consumer-group session timeout of the sink"
    )

    @property
    def db_path(self) -> Path:
        return self.analytics_db or self.home / "analytics.duckdb"

    @property
    def url(self) -> str:
        """Where readers (gateway, CLI, replay) reach the sink's HTTP endpoint."""
        host = "127.0.0.1" if self.analytics_host in ("0.0.0.0", "::") else self.analytics_host
        return f"http://{host}:{self.analytics_port}"

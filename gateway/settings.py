"""Gateway settings (env prefix MELANCIA_)."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.common import Tier

DEV_SECRET = "development-only-secret-change-me"


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
    answer_cache_ttl_s: float = Field(
        default=600.0, ge=0, description="temperature-0 answers reused this long; 0: off"
    )
    answer_cache_size: int = Field(default=1024, ge=0, description="answers the cache keeps")

    env: Literal["development", "production"] = Field(
        default="production", description="development turns authentication off (loopback only)"
    )
    home: Path = Field(default=Path("var"), description="state directory (keys file lives here)")
    keys_file: Path | None = Field(
        default=None, description="API key store (default HOME/keys.json)"
    )
    jwt_secret: SecretStr = Field(
        default=SecretStr(DEV_SECRET), description="HS256 secret for JWT bearer tokens"
    )
    jwt_issuer: str = Field(default="melancia", description="expected `iss` of JWTs")
    rate_limit_key_per_min: float = Field(
        default=600, gt=0, description="requests/min per credential"
    )
    rate_limit_ip_per_min: float = Field(
        default=600, gt=0, description="requests/min per client IP"
    )
    rate_limit_burst: int = Field(default=30, ge=1, description="token-bucket burst size")
    redis_url: str | None = Field(default=None, description="share rate limits through Redis")
    cors_origins: list[str] = Field(
        default_factory=list, description="allowed browser origins (JSON list)"
    )
    cors_allow_credentials: bool = Field(
        default=False, description="CORS credentials (never with *)"
    )
    max_body_bytes: int = Field(default=1_000_000, ge=1024, description="largest request body")
    tls_certfile: Path | None = Field(default=None, description="serve HTTPS with this certificate")
    tls_keyfile: Path | None = Field(default=None, description="private key for tls_certfile")
    route_premium_variant: str = Field(
        default="champion", description="variant that answers the premium tier"
    )
    route_free_variant: str = Field(
        default="champion", description="variant that answers the free tier"
    )
    route_internal_variant: str = Field(
        default="champion", description="variant that answers the internal tier"
    )
    route_free_max_new_tokens: int | None = Field(
        default=192, ge=1, le=2048, description="answer cap of the free tier (its cost bound)"
    )
    ab_challenger_share: float = Field(
        default=0.0, ge=0.0, le=1.0, description="share of users (by hash) sent to the challenger"
    )
    ab_tiers: list[Tier] = Field(
        default_factory=lambda: list[Tier](["free", "premium"]),
        description="tiers in the A/B split (JSON list)",
    )
    ab_salt: str = Field(
        default="melancia-ab",
        min_length=1,
        description="A/B hash salt; a new salt reshuffles users",
    )

    @property
    def keys_path(self) -> Path:
        return self.keys_file or self.home / "keys.json"

    @model_validator(mode="after")
    def _refuse_unsafe_defaults(self) -> GatewaySettings:
        if self.env != "development" and self.jwt_secret.get_secret_value() == DEV_SECRET:
            raise ValueError(
                "MELANCIA_JWT_SECRET is the development default; set a real secret "
                "(or MELANCIA_ENV=development on a loopback-only gateway)"
            )
        if self.env == "development" and self.host not in {"127.0.0.1", "localhost", "::1"}:
            raise ValueError(
                "MELANCIA_ENV=development (authentication off) is only allowed on loopback"
            )
        if "*" in self.cors_origins and self.cors_allow_credentials:
            raise ValueError("CORS: a wildcard origin cannot be combined with credentials")
        if bool(self.tls_certfile) != bool(self.tls_keyfile):
            raise ValueError("set both MELANCIA_TLS_CERTFILE and MELANCIA_TLS_KEYFILE, or neither")
        return self

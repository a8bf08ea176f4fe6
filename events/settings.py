"""Connection settings of the bus, shared by every service."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"


class BusSettings(BaseSettings):
    """Kafka connection; SASL/SSL fields pass straight to aiokafka for real clusters."""

    model_config = SettingsConfigDict(env_prefix="MELANCIA_KAFKA_", extra="ignore")

    bootstrap: str | None = Field(
        default=None, description="Kafka bootstrap servers; unset: the embedded broker"
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="Kafka security protocol"
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        default=None, description="SASL mechanism (SASL_* protocols)"
    )
    sasl_username: str | None = Field(default=None, description="SASL user")
    sasl_password: SecretStr | None = Field(default=None, description="SASL password (secret)")
    ssl_cafile: str | None = Field(default=None, description="CA bundle for SSL")
    ssl_certfile: str | None = Field(default=None, description="client certificate (mTLS)")
    ssl_keyfile: str | None = Field(default=None, description="client key (mTLS)")
    client_id: str = Field(default="melancia", description="Kafka client id prefix")
    max_retries: int = Field(default=3, ge=0, description="handler retries before dead-lettering")
    retry_backoff_s: float = Field(default=0.5, ge=0, description="first retry delay; doubles")
    dedup_window: int = Field(
        default=100_000, ge=1, description="event ids remembered for idempotency"
    )
    answer_fetch_wait_ms: int = Field(
        default=10,
        ge=1,
        le=500,
        description="how long the answer path's consumers (queries, replies, cancels) let the "
        "broker hold an empty fetch; low keeps token latency low at the cost of more fetch "
        "requests while idle",
    )
    stream_fetch_wait_ms: int = Field(
        default=40,
        ge=1,
        le=500,
        description="fetch wait of a gateway's replies once every open answer has its first "
        "token (the rest of a stream tolerates it; fewer fetches leave the generation its CPU)",
    )
    control_fetch_wait_ms: int = Field(
        default=250,
        ge=1,
        le=500,
        description="how long consumers of control events (a worker's cancels; a gateway's "
        "training progress while a job runs) let the broker hold an empty fetch, and how often "
        "a busy worker looks for waiting queries",
    )

    background_fetch_wait_ms: int = Field(
        default=1000,
        ge=1,
        le=5000,
        description="fetch wait of every other consumer (promotions, heartbeats, the query "
        "log, training progress while no job runs): events read within about this long",
    )

    @property
    def servers(self) -> str:
        """The configured bootstrap servers, or the embedded broker's address."""
        return self.bootstrap or DEFAULT_BOOTSTRAP

"""Connection settings of the bus, shared by every service."""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"


class BusSettings(BaseSettings):
    """Kafka connection; SASL/SSL fields pass straight to aiokafka for real clusters."""

    model_config = SettingsConfigDict(env_prefix="MELANCIA_KAFKA_", extra="ignore")

    bootstrap: str | None = None
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    client_id: str = "melancia"
    max_retries: int = 3
    retry_backoff_s: float = 0.5
    dedup_window: int = 100_000

    @property
    def servers(self) -> str:
        """The configured bootstrap servers, or the embedded broker's address."""
        return self.bootstrap or DEFAULT_BOOTSTRAP

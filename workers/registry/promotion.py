"""Aliases of the registered adapter: champion and challenger, promotion, rejection, rollback.

MLflow aliases (not the deprecated stages) say which version serves. What the aliases cannot
remember lives in version tags: the champion each promotion replaced (so rollback can walk
back), the gate's verdict and reason, and where the adapter and its base model come from.
Plain logic over an `MlflowClient`; the caller publishes the events these functions return.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from schemas.registry import ModelPromoted, ModelRolledBack
from schemas.training import TrainingCompleted
from workers.registry import tags, versions

logger = logging.getLogger(__name__)

CHAMPION = tags.CHAMPION
CHALLENGER = "challenger"
ALIASES = (CHAMPION, CHALLENGER)
# The version that a rollback to the base model points at: no adapter at all.
BASE_VERSION = "base"

TAG_BASE_MODEL = tags.BASE_MODEL
TAG_METHOD = tags.METHOD
TAG_DATASET = tags.DATASET_VERSION
TAG_ADAPTER_URI = tags.ADAPTER_URI
TAG_JOB = tags.JOB_ID
TAG_PREVIOUS = "melancia.previous_champion"
TAG_GATE = "melancia.gate"
TAG_GATE_REASON = "melancia.gate_reason"
TAG_EVAL_RUN = "melancia.evaluation_run_id"
TAG_ROLLED_BACK = "melancia.rolled_back_at"
_REASON_LIMIT = 4000  # MLflow caps tag values; reasons are short anyway


class RegistryError(RuntimeError):
    """The registry cannot do what was asked (no champion, no previous version...)."""


@dataclass(frozen=True)
class VersionInfo:
    """One registered adapter version and what serving it needs."""

    name: str
    version: str
    base_model: str
    adapter_uri: str | None
    method: str | None = None
    dataset_version: str | None = None
    run_id: str | None = None
    job_id: str | None = None
    aliases: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    description: str = ""
    created_at: datetime | None = None


def _version_info(client: Any, name: str, version: str) -> VersionInfo:
    mv = client.get_model_version(name, str(version))
    found = dict(mv.tags or {})
    if not found.get(TAG_BASE_MODEL) and mv.run_id:
        # Versions registered by hand or by an older trainer: the training run knows.
        run = client.get_run(mv.run_id).data
        found = {**run.tags, **{f"melancia.{k}": v for k, v in run.params.items()}, **found}
    created = (
        datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC) if mv.creation_timestamp else None
    )
    return VersionInfo(
        name=name,
        version=str(mv.version),
        base_model=found.get(TAG_BASE_MODEL) or "unknown",
        adapter_uri=found.get(TAG_ADAPTER_URI) or mv.source,
        method=found.get(TAG_METHOD),
        dataset_version=found.get(TAG_DATASET),
        run_id=mv.run_id,
        job_id=found.get(TAG_JOB),
        aliases=tuple(sorted(mv.aliases or ())),
        tags=found,
        description=mv.description or "",
        created_at=created,
    )


class Registry:
    """The adapter registry as this project uses it."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def info(self, name: str, version: str) -> VersionInfo:
        return _version_info(self.client, name, version)

    def aliases(self, name: str) -> dict[str, str]:
        """alias → version of a registered model ({} when the model is not registered)."""
        from mlflow.exceptions import MlflowException

        try:
            return {k: str(v) for k, v in self.client.get_registered_model(name).aliases.items()}
        except MlflowException:
            return {}

    def by_alias(self, name: str, alias: str) -> VersionInfo | None:
        version = self.aliases(name).get(alias)
        return self.info(name, version) if version is not None else None

    def versions(self, name: str) -> list[VersionInfo]:
        """Every version, newest first."""
        found = self.client.search_model_versions(f"name = '{name}'")
        ordered = sorted(found, key=lambda mv: int(mv.version), reverse=True)
        return [self.info(name, str(mv.version)) for mv in ordered]

    def ensure_version(self, completed: TrainingCompleted) -> VersionInfo:
        """The version a training job produced (registering it if the trainer did not),
        tagged with what serving and the model card need."""
        wanted = {
            TAG_BASE_MODEL: completed.base_model,
            TAG_METHOD: completed.method,
            TAG_DATASET: completed.dataset_version,
            TAG_ADAPTER_URI: completed.adapter_uri,
            TAG_JOB: completed.job_id,
        }
        version = completed.model_version
        if version is None:
            version = versions.register_version(
                self.client,
                name=completed.model_name,
                source=completed.adapter_uri,
                run_id=completed.run_id,
                version_tags=wanted,
            )
        present = dict(self.client.get_model_version(completed.model_name, version).tags or {})
        for key, value in wanted.items():
            if key not in present:
                self.client.set_model_version_tag(completed.model_name, version, key, value)
        return self.info(completed.model_name, version)

    def mark_challenger(self, name: str, version: str) -> None:
        """The candidate under evaluation (or in an A/B test) is the challenger."""
        self.client.set_registered_model_alias(name, CHALLENGER, version)

    def record_evaluation(
        self, name: str, version: str, *, decision: str, reason: str, run_id: str | None
    ) -> None:
        """The gate's verdict on the version, kept with it."""
        self.client.set_model_version_tag(name, version, TAG_GATE, decision)
        self.client.set_model_version_tag(name, version, TAG_GATE_REASON, reason[:_REASON_LIMIT])
        if run_id:
            self.client.set_model_version_tag(name, version, TAG_EVAL_RUN, run_id)

    def promote(
        self, name: str, version: str, *, alias: str = CHAMPION, reason: str = ""
    ) -> ModelPromoted:
        """Point alias at version; for the champion, remember the one it replaces.

        Idempotent: promoting the version that already holds the alias changes nothing and
        returns the same event (a redelivered evaluation must not lose the rollback target).
        """
        if alias not in ALIASES:
            raise RegistryError(f"unknown alias {alias!r}; use one of {ALIASES}")
        target = self.info(name, version)
        current = self.aliases(name).get(alias)
        previous: str | None = current
        if alias == CHAMPION:
            if current == target.version:
                previous = target.tags.get(TAG_PREVIOUS)
            else:
                previous = current or BASE_VERSION
                self.client.set_model_version_tag(name, target.version, TAG_PREVIOUS, previous)
            if self.aliases(name).get(CHALLENGER) == target.version:
                # The challenger won: it no longer runs beside the champion.
                self.client.delete_registered_model_alias(name, CHALLENGER)
        self.client.set_registered_model_alias(name, alias, target.version)
        logger.info(
            "%s version %s is now %s (was %s): %s", name, target.version, alias, current, reason
        )
        return ModelPromoted(
            model_name=name,
            version=target.version,
            alias=alias,
            previous_version=None if previous in (None, target.version) else previous,
            base_model=target.base_model,
            adapter_uri=target.adapter_uri,
            reason=reason,
        )

    def reject(self, name: str, version: str, *, reason: str) -> None:
        """Keep the version, tagged rejected; it stops being the challenger."""
        self.client.set_model_version_tag(name, version, TAG_GATE, "rejected")
        self.client.set_model_version_tag(name, version, TAG_GATE_REASON, reason[:_REASON_LIMIT])
        if self.aliases(name).get(CHALLENGER) == str(version):
            self.client.delete_registered_model_alias(name, CHALLENGER)

    def retire_alias(self, name: str, alias: str) -> None:
        """Remove an alias (e.g. end an A/B test by dropping the challenger)."""
        if alias in self.aliases(name):
            self.client.delete_registered_model_alias(name, alias)

    def rollback(self, name: str, *, reason: str = "manual rollback") -> ModelRolledBack:
        """Point champion back at the version it replaced (the base model if there was none)."""
        current = self.by_alias(name, CHAMPION)
        if current is None:
            raise RegistryError(f"{name} has no champion to roll back")
        previous = current.tags.get(TAG_PREVIOUS)
        if previous is None:
            raise RegistryError(f"{name} version {current.version} records no previous champion")
        self.client.set_model_version_tag(
            name, current.version, TAG_ROLLED_BACK, datetime.now(UTC).isoformat()
        )
        if previous == BASE_VERSION:
            self.client.delete_registered_model_alias(name, CHAMPION)
            logger.info("%s champion %s rolled back to the base model", name, current.version)
            return ModelRolledBack(
                model_name=name,
                version=BASE_VERSION,
                from_version=current.version,
                base_model=current.base_model,
                adapter_uri=None,
                reason=reason,
            )
        target = self.info(name, previous)
        self.client.set_registered_model_alias(name, CHAMPION, target.version)
        logger.info("%s champion rolled back from %s to %s", name, current.version, target.version)
        return ModelRolledBack(
            model_name=name,
            version=target.version,
            from_version=current.version,
            base_model=target.base_model,
            adapter_uri=target.adapter_uri,
            reason=reason,
        )

    def serving(self, name: str, base_model: str) -> list[ModelPromoted]:
        """What the aliases say a worker on base_model should serve now, as promotions."""
        out = []
        for alias in ALIASES:
            info = self.by_alias(name, alias)
            if info is not None and info.base_model == base_model:
                out.append(
                    ModelPromoted(
                        model_name=name,
                        version=info.version,
                        alias=alias,
                        base_model=info.base_model,
                        adapter_uri=info.adapter_uri,
                        reason="registry state at start",
                    )
                )
        return out


def serving_state(
    home: Path, mlflow_uri: str | None, name: str, base_model: str
) -> list[ModelPromoted]:
    """The registry's champion/challenger for base_model ([] when there is no store yet)."""
    from workers.registry import tracking

    if mlflow_uri is None and not (Path(home) / "mlflow" / "mlflow.db").is_file():
        return []  # never open (and so create) an embedded store just to find it empty
    return Registry(tracking.client(home, mlflow_uri)).serving(name, base_model)

"""Registered model versions: register, tag, alias, look up; and runs found by tag."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from workers.registry import tags

logger = logging.getLogger(__name__)


def ensure_registered_model(mlflow_client: Any, name: str) -> None:
    """Create the registered model if it does not exist yet."""
    from mlflow.exceptions import MlflowException

    try:
        mlflow_client.get_registered_model(name)
    except MlflowException:
        with contextlib.suppress(MlflowException):  # another process may create it first
            mlflow_client.create_registered_model(
                name, description="MelancIA adapters: fine-tuned candidates and champions"
            )


def register_version(
    mlflow_client: Any,
    *,
    name: str,
    source: str,
    run_id: str | None,
    version_tags: dict[str, str],
    description: str = "",
) -> str:
    """Register the artifact at source as a new version of name; returns the version."""
    ensure_registered_model(mlflow_client, name)
    version = mlflow_client.create_model_version(
        name, source, run_id=run_id, tags=version_tags, description=description or None
    )
    logger.info("registered %s version %s from %s", name, version.version, source)
    return str(version.version)


def set_alias(mlflow_client: Any, name: str, alias: str, version: str) -> None:
    """Point alias at version."""
    mlflow_client.set_registered_model_alias(name, alias, version)


def alias_version(mlflow_client: Any, name: str, alias: str) -> Any | None:
    """The model version an alias points at, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return mlflow_client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def version_count(mlflow_client: Any, name: str) -> int:
    """How many versions name has (0 when it is not registered)."""
    return len(mlflow_client.search_model_versions(f"name = '{_quote(name)}'"))


def runs_with_tag(
    mlflow_client: Any, experiment_id: str, key: str, value: str, *, max_results: int = 10
) -> list[Any]:
    """Runs of the experiment whose tag key equals value, newest first."""
    return list(
        mlflow_client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{key}` = '{_quote(value)}'",
            order_by=["attributes.start_time DESC"],
            max_results=max_results,
        )
    )


def register_champion_if_empty(
    mlflow_client: Any,
    *,
    name: str,
    source: str,
    version_tags: dict[str, str],
    description: str = "",
) -> str | None:
    """Register source as version 1 with the champion alias when name has no version yet."""
    if version_count(mlflow_client, name) > 0:
        return None
    version = register_version(
        mlflow_client,
        name=name,
        source=source,
        run_id=None,
        version_tags=version_tags,
        description=description,
    )
    set_alias(mlflow_client, name, tags.CHAMPION, version)
    return version


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")

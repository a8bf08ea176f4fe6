"""Where MLflow keeps runs: embedded SQLite + local artifacts, or a server when configured."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def tracking_uri(home: Path, server_uri: str | None = None) -> str:
    """The server URI when given, else the embedded SQLite store under home/mlflow."""
    if server_uri:
        return server_uri
    db = Path(home).resolve() / "mlflow" / "mlflow.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{db}"


def artifact_root(home: Path) -> str:
    """Local artifact location of the embedded store."""
    path = Path(home).resolve() / "mlflow" / "artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path.as_uri()


def client(home: Path, server_uri: str | None = None) -> Any:
    """An MlflowClient bound to the store (creating the SQLite schema on first use).

    Both URIs are pinned on the client and MLflow's process-wide URIs are left alone:
    `mlflow.set_registry_uri` would also export MLFLOW_REGISTRY_URI, and every later client
    of this process (and every subprocess) that names only a tracking URI would then read
    model versions from whichever store was opened first.
    """
    from mlflow import MlflowClient

    uri = tracking_uri(home, server_uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def experiment_id(mlflow_client: Any, home: Path, name: str, *, server: bool = False) -> str:
    """Id of the named experiment, created on first use (local artifacts unless a server)."""
    from mlflow.exceptions import MlflowException

    found = mlflow_client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    location = None if server else artifact_root(home)
    try:
        return str(mlflow_client.create_experiment(name, artifact_location=location))
    except MlflowException:
        # Another process created it between our lookup and create.
        return str(mlflow_client.get_experiment_by_name(name).experiment_id)

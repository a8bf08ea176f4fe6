"""Where MLflow keeps runs: embedded SQLite + local artifacts, or a server when configured."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# How long a process waits for another one creating the same SQLite store's tables.
SCHEMA_LOCK_TIMEOUT_S = 120


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
    return open_client(tracking_uri(home, server_uri))


# SQLite stores whose schema this process has seen complete; later clients skip the lock.
_READY: set[str] = set()


def open_client(uri: str | None) -> Any:
    """An MlflowClient on `uri` (None: MLflow's default); a SQLite store's schema is created or
    upgraded under a lock.

    MLflow creates (and migrates) a SQLite store's tables when a client first opens it, with no
    guard against another process doing the same: the workers of `melancia up` opening a new
    home at once fail with "table ... already exists" or "duplicate column", and can leave the
    store's migration half done. One process at a time goes through that first open here (a
    lock file beside the database); the others then find the schema complete.
    """
    from mlflow import MlflowClient

    if uri is None or not uri.startswith("sqlite:///") or uri in _READY:
        return MlflowClient(tracking_uri=uri, registry_uri=uri)
    import filelock

    db = Path(uri.removeprefix("sqlite:///"))
    with filelock.FileLock(str(db.parent / ".schema.lock"), timeout=SCHEMA_LOCK_TIMEOUT_S):
        mlflow_client = MlflowClient(tracking_uri=uri, registry_uri=uri)  # the tracking tables
        mlflow_client.search_registered_models(max_results=1)  # the registry's, opened lazily
    _READY.add(uri)
    return mlflow_client


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

"""Turning a registered adapter's URI into a local directory that PEFT can load."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def resolve_adapter(uri: str, cache_dir: Path, *, tracking_uri: str | None = None) -> Path:
    """A local path as is; `file://`, `runs:/`, `models:/` and remote URIs downloaded once."""
    if uri.startswith("models:/"):
        uri = _registered_source(uri, tracking_uri)
    local = Path(uri.removeprefix("file://")).expanduser()
    if local.is_dir():
        return local
    target = Path(cache_dir) / hashlib.sha256(uri.encode()).hexdigest()[:16]
    if target.is_dir() and any(target.iterdir()):
        found = _adapter_root(target)
        if found is not None:
            return found
    import mlflow

    target.mkdir(parents=True, exist_ok=True)
    logger.info("downloading adapter %s to %s", uri, target)
    path = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=uri, dst_path=str(target), tracking_uri=tracking_uri
        )
    )
    found = _adapter_root(path)
    if found is None:
        raise FileNotFoundError(f"no adapter_config.json under {path} (from {uri})")
    return found


def _registered_source(uri: str, tracking_uri: str | None) -> str:
    """Where the files of a `models:/<name>/<version>` (or `@alias`) URI are, read from this
    store's registry: MLflow resolves such URIs through its process-wide registry URI, which
    MelancIA never sets (see `workers.registry.tracking.client`)."""
    from mlflow.store.artifact.models_artifact_repo import ModelsArtifactRepository
    from mlflow.store.artifact.utils.models import get_model_name_and_version

    from workers.registry.tracking import open_client

    client = open_client(tracking_uri)
    model_uri, sub_path = ModelsArtifactRepository.split_models_uri(uri)
    name, version = get_model_name_and_version(client, model_uri)
    source = str(client.get_model_version_download_uri(name, version)).rstrip("/")
    return f"{source}/{sub_path}" if sub_path else source


def _adapter_root(path: Path) -> Path | None:
    """The directory holding adapter_config.json (downloads may nest it one level down)."""
    if (path / "adapter_config.json").is_file():
        return path
    matches = sorted(path.rglob("adapter_config.json"))
    return matches[0].parent if matches else None

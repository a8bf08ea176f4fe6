"""Turning a registered adapter's URI into a local directory that PEFT can load."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def resolve_adapter(uri: str, cache_dir: Path, *, tracking_uri: str | None = None) -> Path:
    """A local path as is; `file://`, `runs:/`, `models:/` and remote URIs downloaded once."""
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


def _adapter_root(path: Path) -> Path | None:
    """The directory holding adapter_config.json (downloads may nest it one level down)."""
    if (path / "adapter_config.json").is_file():
        return path
    matches = sorted(path.rglob("adapter_config.json"))
    return matches[0].parent if matches else None

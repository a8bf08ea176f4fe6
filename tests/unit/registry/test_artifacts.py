"""Registered adapters resolve to local directories through the store they were registered in."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_a_models_uri_is_read_from_the_given_store_not_the_process_default(
    tmp_path: Path, adapter_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workers.registry import tags, tracking, versions
    from workers.registry.artifacts import resolve_adapter

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.chdir(tmp_path)  # MLflow's default store would land here
    home = tmp_path / "home"
    client = tracking.client(home)
    version = versions.register_version(
        client, name="melancia", source=adapter_dir.as_uri(), run_id=None, version_tags={}
    )
    versions.set_alias(client, "melancia", tags.CHAMPION, version)
    uri = tracking.tracking_uri(home)

    for models_uri in ("models:/melancia/1", "models:/melancia@champion"):
        assert resolve_adapter(models_uri, tmp_path / "cache", tracking_uri=uri) == adapter_dir
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()

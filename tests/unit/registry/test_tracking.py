"""Opening one home's MLflow store leaves every other client of the process on its own store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def test_a_client_names_its_store_without_redirecting_the_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    from workers.registry import tracking, versions

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    mine, other = tmp_path / "mine", tmp_path / "other"
    for home in (mine, other):  # the other home is opened last, as a later test would
        versions.register_version(
            tracking.client(home),
            name="melancia",
            source=(home / "adapter").as_uri(),
            run_id=None,
            version_tags={},
        )

    # A client that names only the tracking store, as `mlflow ui` users and the tests do.
    reader = MlflowClient(tracking.tracking_uri(mine))
    assert reader.get_model_version("melancia", "1").source == (mine / "adapter").as_uri()
    assert "MLFLOW_TRACKING_URI" not in os.environ
    assert "MLFLOW_REGISTRY_URI" not in os.environ

"""Opening one home's MLflow store leaves every other client of the process on its own store."""

from __future__ import annotations

import os
import subprocess
import sys
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


OPEN_AT_ONCE = """
import sys, time
from pathlib import Path
from workers.registry import tracking
home, go = Path(sys.argv[1]), Path(sys.argv[2])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.002)
client = tracking.client(home)
client.search_registered_models()
client.search_experiments()
print("opened", flush=True)
"""


def test_processes_opening_a_new_store_at_once_all_get_its_schema(tmp_path: Path) -> None:
    """The workers of `melancia up` open a new home's store together; none may fail on it."""
    home, go = tmp_path / "home", tmp_path / "go"
    root = Path(__file__).resolve().parents[3]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_AT_ONCE, str(home), str(go)],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for proc in procs:  # every process has imported MLflow before any opens the store
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    go.touch()
    outcomes = [proc.communicate(timeout=120) for proc in procs]
    for proc, (out, err) in zip(procs, outcomes, strict=True):
        assert proc.returncode == 0 and out.strip() == "opened", err[-2000:]

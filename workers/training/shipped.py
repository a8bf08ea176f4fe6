"""The adapters that ship in the repository (data/adapters/) and their place in the registry."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import filelock

from workers.registry import tags, tracking, versions
from workers.registry.adapters import CARD_NAME, read_card

logger = logging.getLogger(__name__)

ADAPTERS_DIR = Path(__file__).resolve().parents[2] / "data" / "adapters"
# The adapter a fresh install serves on the default base model (InferenceSettings knows it too).
DEFAULT_NAME = "melancia-gemma3-270m-lora"
REPORT_NAME = "report.json"
# What an adapter directory keeps when shipped: weights, config, template, card, figures.
SHIPPED_FILES = (
    "adapter_config.json",
    "adapter_model.safetensors",
    "chat_template.jinja",
    CARD_NAME,
    REPORT_NAME,
    "README.md",
)


def shipped_adapters(root: Path = ADAPTERS_DIR) -> list[Path]:
    """Adapter directories with a card under data/adapters/."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / CARD_NAME).is_file())


def ship(adapter_dir: Path, name: str, *, root: Path = ADAPTERS_DIR) -> Path:
    """Copy an adapter (only what serving and its record need) to data/adapters/<name>/."""
    target = root / name
    staging = root / f".{name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for file in SHIPPED_FILES:
        if (adapter_dir / file).is_file():
            shutil.copy2(adapter_dir / file, staging / file)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def register_shipped_if_empty(
    home: Path, server_uri: str | None, model_name: str, adapter_dir: Path
) -> str | None:
    """Log the shipped adapter as a run and make it version 1 and champion of an empty registry."""
    card = read_card(adapter_dir)
    if card is None:
        return None
    mlflow_dir = Path(home) / "mlflow"
    mlflow_dir.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(mlflow_dir / ".bootstrap.lock"), timeout=120):
        client = tracking.client(home, server_uri)
        if versions.version_count(client, model_name) > 0:
            return None
        experiment = tracking.experiment_id(
            client, home, tags.EXPERIMENT, server=server_uri is not None
        )
        run = client.create_run(
            experiment,
            run_name=f"shipped-{adapter_dir.name}",
            tags={
                tags.SOURCE: "shipped",
                tags.JOB_ID: card.job_id or adapter_dir.name,
                tags.BASE_MODEL: card.base_model,
                tags.METHOD: card.method,
                tags.DATASET_VERSION: card.dataset_version,
                tags.TEMPLATE_VERSION: card.template_version,
            },
        )
        run_id = run.info.run_id
        _log_card(client, run_id, card.model_dump())
        client.log_artifacts(run_id, str(adapter_dir), "adapter")
        source = f"{client.get_run(run_id).info.artifact_uri}/adapter"
        client.set_terminated(run_id, "FINISHED")
        version = versions.register_champion_if_empty(
            client,
            name=model_name,
            source=source,
            version_tags={
                tags.BASE_MODEL: card.base_model,
                tags.METHOD: card.method,
                tags.DATASET_VERSION: card.dataset_version,
                tags.TEMPLATE_VERSION: card.template_version,
                tags.ADAPTER_URI: source,
                tags.SOURCE: "shipped",
            },
            description=f"shipped adapter {adapter_dir.name}: {card.method} on {card.base_model}",
        )
        client.set_tag(run_id, tags.MODEL_VERSION, str(version))
    logger.info(
        "registered shipped adapter %s as %s v%s (champion)", adapter_dir.name, model_name, version
    )
    return version


def _log_card(client: Any, run_id: str, card: dict[str, Any]) -> None:
    for key, value in (card.get("recipe") or {}).items():
        client.log_param(run_id, f"hp.{key}", json.dumps(value))
    for key, value in (card.get("metrics") or {}).items():
        client.log_metric(run_id, f"final_{key}", float(value))

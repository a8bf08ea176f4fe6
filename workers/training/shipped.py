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
# `melancia eval --json` of the adapter against its base model: the first version's model card.
EVALUATION_NAME = "evaluation.json"
# What an adapter directory keeps when shipped: weights, config, template, card, figures.
SHIPPED_FILES = (
    "adapter_config.json",
    "adapter_model.safetensors",
    "chat_template.jinja",
    CARD_NAME,
    REPORT_NAME,
    EVALUATION_NAME,
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
    (staging / "README.md").write_text(readme(staging), encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def readme(adapter_dir: Path) -> str:
    """What a reader of data/adapters/<name>/ needs: what it is, how it was made, how it measured."""
    card = read_card(adapter_dir)
    if card is None:
        raise ValueError(f"{adapter_dir} has no adapter card")
    recipe = card.model_dump().get("recipe") or {}
    lines = [
        f"# {adapter_dir.name}",
        "",
        f"A `{card.method}` adapter for `{card.base_model}`: the model a fresh MelancIA "
        "install serves (`MELANCIA_SHIPPED_ADAPTER`), and version 1 of an empty registry.",
        "",
        "| | |",
        "|---|---|",
        f"| base model | `{card.base_model}` |",
        f"| method | {card.method} |",
        f"| dataset version | `{card.dataset_version}` (data/DATASET_CARD.md) |",
        f"| chat template version | `{card.template_version}` (checked at load) |",
        f"| training job | `{card.job_id}` |",
        f"| steps | {card.steps} in {card.train_runtime_s} s |",
        f"| recipe | {', '.join(f'{k}={v}' for k, v in recipe.items() if v is not None)} |",
        "",
    ]
    report_file = adapter_dir / REPORT_NAME
    if report_file.is_file():
        report = json.loads(report_file.read_text(encoding="utf-8"))
        base, tuned = report["base"], report["tuned"]
        lines += [
            "## Against the base model (`melancia train report`)",
            "",
            f"Test split: eval loss over the answer tokens of {report['test_rows_for_loss']} "
            f"conversations; ROUGE-L of greedy answers to {report['test_questions_for_rouge']} "
            f"questions (at most {report['max_new_tokens']} new tokens; the base model with the "
            "few-shot prompt serving gives it).",
            "",
            "| metric | base | adapter | change |",
            "|---|---|---|---|",
            f"| eval loss | {base['eval_loss']:.4f} | {tuned['eval_loss']:.4f} | "
            f"{-report['eval_loss_reduction']:+.1%} |",
            f"| ROUGE-L | {base['rougeL']:.4f} | {tuned['rougeL']:.4f} | "
            f"{report['rougeL_gain']:+.1%} |",
            "",
        ]
    evaluation_file = adapter_dir / EVALUATION_NAME
    if evaluation_file.is_file():
        data = json.loads(evaluation_file.read_text(encoding="utf-8"))
        mine, theirs = data["candidate"]["summary"], data["baseline"]["summary"]
        lines += [
            "## On the benchmark (`melancia eval`, the serving prompt path)",
            "",
            f"{data.get('subset', '')}; against {data.get('baseline_label', 'the base model')}.",
            "",
            "| metric | adapter | base | change |",
            "|---|---|---|---|",
            *(
                f"| {k} | {mine[k]:.4f} | {theirs[k]:.4f} | {mine[k] - theirs[k]:+.4f} |"
                for k in mine
                if k in theirs and mine[k] is not None and theirs[k] is not None
            ),
            "",
        ]
    lines += [
        "Reproduce: `make train-default` (trains, measures and ships). Files: "
        f"`{CARD_NAME}` (the card: recipe, data hashes, libraries, probe logits), "
        f"`{REPORT_NAME}` (the figures above with example answers), `chat_template.jinja`.",
        "",
    ]
    return "\n".join(lines)


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
                tags.JOB_ID: card.job_id or adapter_dir.name,
            },
            description=f"shipped adapter {adapter_dir.name}: {card.method} on {card.base_model}",
        )
        client.set_tag(run_id, tags.MODEL_VERSION, str(version))
        if version is not None and (adapter_dir / EVALUATION_NAME).is_file():
            _card_from_shipped_evaluation(client, experiment, model_name, version, adapter_dir)
    logger.info(
        "registered shipped adapter %s as %s v%s (champion)", adapter_dir.name, model_name, version
    )
    return version


def _card_from_shipped_evaluation(
    client: Any, experiment: str, model_name: str, version: str, adapter_dir: Path
) -> None:
    """Log the shipped evaluation as the version's evaluation run and render its model card."""
    from workers.evaluation.tracking import RunRecord, log_evaluation, reports_from_json
    from workers.registry.model_card import evaluation_from_run, render_card, store_card
    from workers.registry.promotion import TAG_EVAL_RUN, Registry

    data = json.loads((adapter_dir / EVALUATION_NAME).read_text(encoding="utf-8"))
    candidate, baseline = reports_from_json(data)
    run_id = log_evaluation(
        client,
        experiment,
        RunRecord(
            model_name=model_name,
            version=version,
            job_id=None,
            baseline_label=str(data.get("baseline_label", baseline.model.display)),
            primary_metric=str(data.get("primary_metric", "rougeL")),
            decision="shipped",
            reason="the adapter shipped in data/adapters/, evaluated before it was committed",
            params={"subset": data.get("subset", ""), "source": "shipped"},
        ),
        candidate,
        baseline,
    )
    registry = Registry(client)
    client.set_model_version_tag(model_name, version, TAG_EVAL_RUN, run_id)
    info = registry.info(model_name, version)
    store_card(client, info, render_card(info, evaluation_from_run(client, run_id)), run_id=run_id)


def _log_card(client: Any, run_id: str, card: dict[str, Any]) -> None:
    for key, value in (card.get("recipe") or {}).items():
        client.log_param(run_id, f"hp.{key}", json.dumps(value))
    for key, value in (card.get("metrics") or {}).items():
        client.log_metric(run_id, f"final_{key}", float(value))

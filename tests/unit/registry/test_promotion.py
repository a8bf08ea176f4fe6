"""Aliases, verdict tags, rollback and model cards against a real (SQLite) MLflow registry."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from schemas.training import TrainingCompleted
from workers.registry.model_card import (
    CARD_MARKER,
    CardEvaluation,
    card_for,
    render_card,
    store_card,
)
from workers.registry.promotion import (
    BASE_VERSION,
    TAG_GATE,
    TAG_GATE_REASON,
    Registry,
    RegistryError,
)


def _trained(name: str, adapter_dir: Path, job: str) -> TrainingCompleted:
    return TrainingCompleted(
        job_id=job,
        base_model="tiny",
        method="lora",
        dataset_version="ds-test",
        adapter_uri=str(adapter_dir),
        model_name=name,
    )


@pytest.fixture
def registry(mlflow_client: Any) -> Registry:
    return Registry(mlflow_client)


@pytest.fixture
def name() -> str:
    return f"m-{uuid.uuid4().hex[:8]}"


def test_a_trained_adapter_is_registered_once_and_tagged(registry, name, adapter_dir) -> None:
    first = registry.ensure_version(_trained(name, adapter_dir, "j1"))
    again = registry.ensure_version(
        _trained(name, adapter_dir, "j1").model_copy(update={"model_version": first.version})
    )

    assert (first.version, again.version) == ("1", "1")
    assert (first.base_model, first.method, first.dataset_version, first.job_id) == (
        "tiny",
        "lora",
        "ds-test",
        "j1",
    )
    assert first.adapter_uri == str(adapter_dir)


def test_promotions_remember_the_champion_they_replace_and_rollback_walks_back(
    registry, name, adapter_dir
) -> None:
    v1, v2, v3 = (registry.ensure_version(_trained(name, adapter_dir, f"j{i}")) for i in (1, 2, 3))

    first = registry.promote(name, v1.version, reason="first")
    second = registry.promote(name, v2.version)
    repeated = registry.promote(name, v2.version)  # a redelivered verdict
    registry.promote(name, v3.version)

    assert first.previous_version == BASE_VERSION and first.adapter_uri == str(adapter_dir)
    assert second.previous_version == repeated.previous_version == "1"
    back = registry.rollback(name, reason="bad answers")
    assert (back.from_version, back.version) == ("3", "2")
    assert registry.aliases(name) == {"champion": "2"}
    assert registry.rollback(name).version == "1"
    to_base = registry.rollback(name)
    assert (to_base.version, to_base.adapter_uri, to_base.from_version) == (BASE_VERSION, None, "1")
    assert registry.aliases(name) == {}
    with pytest.raises(RegistryError, match="no champion"):
        registry.rollback(name)


def test_a_rejected_candidate_keeps_its_reason_and_loses_the_challenger_alias(
    registry, name, adapter_dir
) -> None:
    v1 = registry.ensure_version(_trained(name, adapter_dir, "j1"))
    registry.mark_challenger(name, v1.version)

    registry.reject(name, v1.version, reason="rougeL worse")

    tags = registry.info(name, v1.version).tags
    assert (tags[TAG_GATE], tags[TAG_GATE_REASON]) == ("rejected", "rougeL worse")
    assert "challenger" not in registry.aliases(name)


def test_a_challenger_that_wins_stops_being_the_challenger(registry, name, adapter_dir) -> None:
    v1 = registry.ensure_version(_trained(name, adapter_dir, "j1"))
    event = registry.promote(name, v1.version, alias="challenger")
    assert (event.alias, registry.aliases(name)) == ("challenger", {"challenger": "1"})

    registry.promote(name, v1.version, alias="champion")

    assert registry.aliases(name) == {"champion": "1"}


def test_the_model_card_is_stored_as_the_version_description(
    registry, name, adapter_dir, mlflow_client
) -> None:
    info = registry.ensure_version(_trained(name, adapter_dir, "j1"))
    evaluation = CardEvaluation(
        baseline_label="base model tiny",
        candidate={"rougeL": 0.31, "perplexity": 9.5},
        baseline={"rougeL": 0.25, "perplexity": 14.0},
        candidate_by_category={"metricas": {"rougeL": 0.4, "questions": 2}},
        baseline_by_category={"metricas": {"rougeL": 0.3, "questions": 2}},
        decision="promoted",
        reason="better",
    )
    card = render_card(info, evaluation)
    run = mlflow_client.create_run(mlflow_client.create_experiment(f"e-{name}"))

    store_card(mlflow_client, info, card, run_id=run.info.run_id)

    stored = registry.info(name, info.version)
    assert stored.description == card and card.startswith(CARD_MARKER)
    assert card_for(mlflow_client, stored) == card
    for text in (
        "base model | `tiny`",
        "ds-test",
        "| rougeL | 0.3100 | 0.2500 | +0.0600 |",
        "| perplexity | 9.5000 | 14.0000 | -4.5000 |",
        "## Intended use",
        "## Limitations",
        "## Ethical notes",
        "| metricas | 2 | 0.4000 | 0.3000 |",
    ):
        assert text in card


def test_a_card_is_rendered_on_demand_for_a_version_never_evaluated(
    registry, name, adapter_dir, mlflow_client
) -> None:
    info = registry.ensure_version(_trained(name, adapter_dir, "j1"))

    card = card_for(mlflow_client, info)

    assert "Not evaluated yet" in card
    assert registry.info(name, info.version).description == card


def test_serving_lists_the_aliases_a_worker_on_that_base_should_load(
    registry, name, adapter_dir
) -> None:
    v1, v2 = (registry.ensure_version(_trained(name, adapter_dir, f"j{i}")) for i in (1, 2))
    registry.promote(name, v1.version)
    registry.promote(name, v2.version, alias="challenger")

    serving = registry.serving(name, "tiny")

    assert [(p.alias, p.version) for p in serving] == [("champion", "1"), ("challenger", "2")]
    assert registry.serving(name, "gemma3-270m") == []

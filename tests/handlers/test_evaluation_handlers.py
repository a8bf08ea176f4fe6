"""Evaluation and promotion subscribers under TestKafkaBroker, with the tiny model and MLflow."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import torch
from faststream.kafka import TestKafkaBroker
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

from data.pipeline import load_benchmark, load_split
from events.bus import emit
from events.settings import BusSettings
from events.topics import MODEL_PROMOTED, MODEL_ROLLED_BACK, TRAINING_COMPLETED
from schemas.envelope import Envelope, make_event
from schemas.registry import EvaluationCompleted, ModelPromoted, ModelRolledBack
from schemas.training import TrainingCompleted
from workers.evaluation.app import create_app
from workers.evaluation.runner import EvalConfig, ModelEvaluator, select_items
from workers.evaluation.service import EvaluationService
from workers.evaluation.settings import EvaluationSettings
from workers.inference.models import ensure_model
from workers.registry import tracking
from workers.registry.gate import GatePolicy
from workers.registry.promotion import TAG_GATE, Registry


@pytest.fixture(scope="module")
def adapter(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA adapter with random weights on the tiny model."""
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(ensure_model("tiny", models_dir))
    config = LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )
    path = tmp_path_factory.mktemp("adapter") / "tiny-lora"
    get_peft_model(base, config).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def evaluator(models_dir: Path) -> ModelEvaluator:
    return ModelEvaluator(
        EvalConfig(models_dir=models_dir, max_new_tokens=2, perplexity_records=1, bertscore=False)
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


def _service(evaluator: ModelEvaluator, home: Path, policy: GatePolicy) -> EvaluationService:
    uri = tracking.tracking_uri(home)
    client = tracking.client(home)
    return EvaluationService(
        evaluator=evaluator,
        items=select_items(load_benchmark(), 1)[:1],
        test_records=load_split("test")[:1],
        client=client,
        experiment_id=tracking.experiment_id(client, home, "eval-test"),
        adapter_cache=home / "cache",
        tracking_uri=uri,
        policy=policy,
        subset="1 question",
    )


def _completed(adapter: Path, name: str) -> TrainingCompleted:
    return TrainingCompleted(
        job_id=f"job-{uuid.uuid4().hex[:8]}",
        base_model="tiny",
        method="lora",
        dataset_version="ds-test",
        adapter_uri=str(adapter),
        model_name=name,
    )


def handler_mock(broker: Any, title: str) -> Any:
    """The mock of one of the worker's own handlers (a second subscriber on the same topic in
    the same service would be skipped as a duplicate by the idempotency middleware)."""
    [subscriber] = [s for s in broker.subscribers if s.specification.config.title_ == title]
    return subscriber.calls[0].handler.mock


def _app(service: EvaluationService) -> tuple[Any, list[EvaluationCompleted], Any]:
    """The worker's broker; what reaches its registry subscriber is recorded in `verdicts`."""
    _, broker, runtime = create_app(EvaluationSettings(), BusSettings(bootstrap="localhost:9092"))
    runtime.service = service
    verdicts: list[EvaluationCompleted] = []
    apply = service.apply

    def recording_apply(evaluation: EvaluationCompleted) -> ModelPromoted | None:
        verdicts.append(evaluation)
        return apply(evaluation)

    service.apply = recording_apply  # type: ignore[method-assign]
    # A second subscriber on evaluation.completed or model.promoted in this process would be
    # skipped as a duplicate (idempotency is per process and topic), hence the recording
    # wrapper above and, for the promotions it publishes, the mock of the worker's own counter.
    return broker, verdicts, runtime


@pytest.mark.parametrize(("margin", "decision"), [(-1.0, "promoted"), (1.0, "rejected")])
async def test_a_trained_candidate_is_evaluated_then_promoted_or_rejected(
    adapter: Path,
    evaluator: ModelEvaluator,
    home: Path,
    margin: float,
    decision: str,
) -> None:
    policy = GatePolicy(min_improvement=margin, category_tolerance=1.0)
    service = _service(evaluator, home, policy)
    broker, verdicts, runtime = _app(service)
    name = f"melancia-{decision}"
    completed = _completed(adapter, name)

    async with TestKafkaBroker(broker) as br:
        promoted = handler_mock(broker, "registry.count_promotions")
        await emit(
            br, TRAINING_COMPLETED, make_event(completed, source="test"), key=completed.job_id
        )

        [result] = verdicts
        assert (result.decision, result.candidate_version, result.champion_version) == (
            decision,
            "1",
            None,
        )
        assert {
            "rouge1",
            "rougeL",
            "token_f1",
            "exact_match",
            "perplexity",
            "latency_mean_s",
        } <= set(result.candidate_metrics)
        assert result.run_id is not None and result.per_category
        registry = Registry(service.client)
        assert registry.info(name, "1").tags[TAG_GATE] == decision
        if decision == "promoted":
            [raw_promotion] = [c.args[0] for c in promoted.call_args_list]
            promotion = Envelope[ModelPromoted].model_validate(raw_promotion).data
            assert (promotion.version, promotion.alias, promotion.previous_version) == (
                "1",
                "champion",
                "base",
            )
            assert promotion.adapter_uri == str(adapter) and promotion.base_model == "tiny"
            assert registry.aliases(name) == {"champion": "1"}
        else:
            promoted.assert_not_called()
            assert registry.aliases(name) == {}

    metrics = runtime.telemetry.registry
    assert metrics.get_sample_value("melancia_evaluation_runs_total", {"decision": decision}) == 1
    assert metrics.get_sample_value("melancia_evaluation_duration_seconds_count") == 1
    score = metrics.get_sample_value(
        "melancia_evaluation_score", {"model": name, "version": "1", "metric": "rougeL"}
    )
    assert score == result.candidate_metrics["rougeL"]
    promotions = metrics.get_sample_value("melancia_model_promotions_total", {"model": name})
    rejections = metrics.get_sample_value(
        "melancia_evaluation_gate_rejections_total", {"reason": "below_champion"}
    )
    assert (promotions, rejections) == ((1, None) if decision == "promoted" else (None, 1))


async def test_promotions_and_rollbacks_are_counted_whoever_publishes_them() -> None:
    _, broker, runtime = create_app(EvaluationSettings(), BusSettings(bootstrap="localhost:9092"))
    promoted = ModelPromoted(model_name="melancia", version="3", base_model="tiny")
    rolled = ModelRolledBack(
        model_name="melancia", version="2", from_version="3", base_model="tiny"
    )

    async with TestKafkaBroker(broker) as br:  # as `melancia model promote|rollback` would
        await emit(br, MODEL_PROMOTED, make_event(promoted, source="cli"), key="melancia")
        await emit(br, MODEL_ROLLED_BACK, make_event(rolled, source="cli"), key="melancia")
        await emit(br, MODEL_ROLLED_BACK, make_event(rolled, source="cli"), key="melancia")

    metrics = runtime.telemetry.registry
    labels = {"model": "melancia"}
    assert metrics.get_sample_value("melancia_model_promotions_total", labels) == 1
    assert metrics.get_sample_value("melancia_model_rollbacks_total", labels) == 2

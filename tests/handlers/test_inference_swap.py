"""Promotions and rollbacks reach the inference worker's variants under TestKafkaBroker."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import torch
from faststream.kafka import TestKafkaBroker
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

from events.bus import emit
from events.settings import BusSettings
from events.topics import MODEL_PROMOTED, MODEL_ROLLED_BACK, QUERY_COMPLETED, QUERY_REQUESTED
from melancia import heap
from schemas.envelope import Envelope, make_event
from schemas.query import QueryCompleted, QueryRequested
from schemas.registry import ModelPromoted, ModelRolledBack
from workers.inference.app import create_app, load_service, load_swapper
from workers.inference.models import ensure_model
from workers.inference.settings import InferenceSettings


@pytest.fixture(scope="module")
def adapter(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(5)
    base = AutoModelForCausalLM.from_pretrained(ensure_model("tiny", models_dir))
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj"], init_lora_weights=False)
    path = tmp_path_factory.mktemp("swap") / "v1"
    get_peft_model(base, config).save_pretrained(path)
    return path


async def test_a_promotion_then_a_rollback_change_what_answers(
    models_dir: Path, adapter: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refrozen: list[bool] = []
    monkeypatch.setattr(heap, "refreeze", lambda: refrozen.append(True))
    settings = InferenceSettings(
        base_model="tiny",
        home=models_dir.parent,  # the converted weights; no registry is read
        worker_id="w-swap",
        retrieval=False,
        shipped_adapter=False,
        serve_registry=False,
    )
    _, broker, runtime = create_app(settings, BusSettings(bootstrap="localhost:9092"))
    runtime.service = load_service(settings)
    runtime.swapper = load_swapper(runtime.service, settings, datetime.now(UTC))
    promoted = ModelPromoted(
        model_name="melancia", version="7", base_model="tiny", adapter_uri=str(adapter)
    )
    rolled = ModelRolledBack(
        model_name="melancia", version="base", from_version="7", base_model="tiny"
    )

    @broker.subscriber(QUERY_COMPLETED)
    async def log(event: Envelope[QueryCompleted]) -> None: ...

    async def ask(query_id: str) -> QueryCompleted:
        request = QueryRequested(
            query_id=query_id, question="O que é ACOS?", params={"max_new_tokens": 3}
        )
        await emit(br, QUERY_REQUESTED, make_event(request, source="t"), key=query_id)
        return Envelope[QueryCompleted].model_validate(log.mock.call_args.args[0]).data

    async with TestKafkaBroker(broker) as br:
        before = await ask("q-before")
        await emit(br, MODEL_PROMOTED, make_event(promoted, source="t"), key="melancia")
        after = await ask("q-after")
        await emit(br, MODEL_ROLLED_BACK, make_event(rolled, source="t"), key="melancia")
        back = await ask("q-back")

    assert (before.variant, before.adapter) == ("champion", None)
    assert (after.variant, after.adapter) == ("champion@7", "melancia-v7")
    assert (back.variant, back.adapter) == ("champion", None)
    assert runtime.service.variants.advertised()["champion"] == "champion"
    # Each swap gave the frozen objects back, so the weights it let go can be freed.
    assert refrozen == [True, True]

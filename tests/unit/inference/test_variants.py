"""Variants on one engine: resolution, live swaps that spare running streams, rollback, eviction."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

from schemas.registry import ModelPromoted, ModelRolledBack
from workers.inference.adapters import BASE_ADAPTER
from workers.inference.engine import GenerationEngine
from workers.inference.models import ensure_model, load_model
from workers.inference.variants import Swapper, Variants

PROMPT = "<start_of_turn>user\nO que é ROAS?<end_of_turn>\n<start_of_turn>model\n"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def adapters(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three LoRA adapters with random weights on the tiny model."""
    root = tmp_path_factory.mktemp("variants")
    out = {}
    for seed in (1, 2, 3):
        torch.manual_seed(seed)
        base = AutoModelForCausalLM.from_pretrained(ensure_model("tiny", models_dir))
        config = LoraConfig(
            r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False
        )
        get_peft_model(base, config).save_pretrained(root / f"v{seed}")
        out[str(seed)] = root / f"v{seed}"
    return out


@pytest.fixture
def engine(models_dir: Path) -> GenerationEngine:
    return GenerationEngine(load_model("tiny", models_dir), max_concurrency=2)


def _promoted(version: str, adapter: Path | None, alias: str = "champion") -> ModelPromoted:
    return ModelPromoted(
        model_name="melancia",
        version=version,
        alias=alias,
        base_model="tiny",
        adapter_uri=str(adapter) if adapter else None,
    )


def _swapper(engine: GenerationEngine, tmp_path: Path, **kw: object) -> Swapper:
    return Swapper(
        Variants(engine, **kw),  # type: ignore[arg-type]
        model_name="melancia",
        base_model="tiny",
        adapter_cache=tmp_path,
        tracking_uri=None,
        started_at=T0,
    )


def test_requests_resolve_to_a_variant_and_its_label(engine, adapters, tmp_path) -> None:
    swapper = _swapper(engine, tmp_path)
    variants = swapper.variants

    assert variants.resolve(None) == ("champion", variants.resolve("champion")[1])
    assert variants.resolve(None)[1].label("champion") == "champion"
    assert variants.resolve("base")[1].adapter == BASE_ADAPTER
    assert variants.resolve("smollm2-135m")[0] == "champion"
    assert swapper.promoted(_promoted("1", adapters["1"], alias="challenger"), T0)
    variant, arm = variants.resolve("challenger")
    assert (variant, arm.label(variant)) == ("challenger", "challenger@1")
    assert variants.advertised() == {
        "champion": "champion",
        "challenger": "challenger@1",
        "base": "base",
    }


def test_a_promotion_waits_for_a_running_stream_which_finishes_on_its_adapter(
    engine, adapters, tmp_path
) -> None:
    swapper = _swapper(engine, tmp_path)
    expected_old = engine.generate(PROMPT, max_new_tokens=40).text
    _, arm = swapper.variants.resolve(None)
    stream = engine.generate_stream(PROMPT, max_new_tokens=40, adapter=arm.adapter)
    first = next(stream)  # the stream is running: it holds the model
    swap = threading.Thread(target=swapper.promoted, args=(_promoted("1", adapters["1"]), T0))
    swap.start()
    swap.join(0.5)
    assert swap.is_alive(), "the swap must wait for the running generation"
    rest = "".join(d.text for d in stream)
    swap.join(30)

    assert first.text + rest == expected_old and stream.result.adapter is None
    variant, arm = swapper.variants.resolve(None)
    after = engine.generate(PROMPT, max_new_tokens=40, adapter=arm.adapter)
    assert (arm.label(variant), after.adapter) == ("champion@1", arm.adapter)
    assert after.text != expected_old


def test_rollback_and_stale_events(engine, adapters, tmp_path) -> None:
    swapper = _swapper(engine, tmp_path)
    swapper.promoted(_promoted("1", adapters["1"]), T0 + timedelta(seconds=1))
    swapper.promoted(_promoted("2", adapters["2"]), T0 + timedelta(seconds=2))
    v2 = engine.generate(PROMPT, max_new_tokens=16).text

    stale = swapper.promoted(_promoted("1", adapters["1"]), T0 + timedelta(seconds=1))
    before_start = swapper.promoted(_promoted("1", adapters["1"]), T0 - timedelta(seconds=1))
    other_base = swapper.promoted(
        _promoted("1", adapters["1"]).model_copy(update={"base_model": "gemma3-270m"}),
        T0 + timedelta(seconds=9),
    )
    assert (stale, before_start, other_base) == (False, False, False)
    assert engine.generate(PROMPT, max_new_tokens=16).text == v2

    back = ModelRolledBack(
        model_name="melancia",
        version="1",
        from_version="2",
        base_model="tiny",
        adapter_uri=str(adapters["1"]),
    )
    assert swapper.rolled_back(back, T0 + timedelta(seconds=3))
    assert swapper.variants.resolve(None)[1].label("champion") == "champion@1"
    to_base = back.model_copy(update={"version": "base", "adapter_uri": None, "from_version": "1"})
    assert swapper.rolled_back(to_base, T0 + timedelta(seconds=4))
    variant, arm = swapper.variants.resolve(None)
    assert (arm.label(variant), arm.adapter, engine.default_adapter) == (
        "champion",
        BASE_ADAPTER,
        BASE_ADAPTER,
    )


def test_old_adapters_are_evicted_beyond_the_bound(engine, adapters, tmp_path) -> None:
    swapper = _swapper(engine, tmp_path, max_resident=2)
    for i, version in enumerate(("1", "2", "3"), start=1):
        swapper.promoted(_promoted(version, adapters[version]), T0 + timedelta(seconds=i))

    assert engine.adapters == ["melancia-v2", "melancia-v3"]
    assert engine.default_adapter == "melancia-v3"

"""Serving PEFT adapters: a saved LoRA round-trips, and adapters are chosen per request."""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from peft import IA3Config, LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

from workers.inference.adapters import BASE_ADAPTER
from workers.inference.engine import GenerationEngine
from workers.inference.merged import unmergeable_reason
from workers.inference.models import LoadedModel, ensure_model, load_model
from workers.inference.prompting import CHAT_TEMPLATE, ensure_chat_template

CACHE_DIR = Path(__file__).resolve().parents[2] / "var" / "models"
PROMPT = "<start_of_turn>user\nO que é ROAS?<end_of_turn>\n<start_of_turn>model\n"


def _make_lora(out_dir: Path, seed: int) -> torch.nn.Module:
    """Train-free LoRA with random (non-zero) weights on the tiny model, saved to out_dir."""
    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(ensure_model("tiny", CACHE_DIR))
    config = LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )
    model = get_peft_model(base, config).eval()
    model.save_pretrained(out_dir)
    return model


@pytest.fixture(scope="module")
def adapters(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, torch.nn.Module]]:
    """Return two saved adapters and the in-memory models they came from."""
    root = tmp_path_factory.mktemp("adapters")
    made = {}
    for seed, name in enumerate(("melancia-v1", "melancia-v2")):
        made[name] = (root / name, _make_lora(root / name, seed))
    return made


@pytest.fixture(scope="module")
def served(adapters) -> LoadedModel:
    """Return the tiny model loaded with the first adapter, as the inference worker does."""
    return load_model("tiny", CACHE_DIR, adapter_dir=adapters["melancia-v1"][0])


def _logits(model: torch.nn.Module, tokenizer, text: str) -> torch.Tensor:
    ids = tokenizer(text, return_tensors="pt").input_ids
    with torch.inference_mode():
        return model(input_ids=ids).logits


def test_saved_adapter_reloads_with_identical_logits(adapters, served) -> None:
    _, trained = adapters["melancia-v1"]

    reloaded = _logits(served.model, served.tokenizer, PROMPT)
    original = _logits(trained, served.tokenizer, PROMPT)
    base = _logits(load_model("tiny", CACHE_DIR).model, served.tokenizer, PROMPT)

    assert served.adapter == "melancia-v1"
    assert torch.equal(reloaded, original)
    assert not torch.allclose(reloaded, base)


def test_tokenizer_saved_with_the_adapter_is_preferred(adapters, tmp_path: Path) -> None:
    _, trained = adapters["melancia-v2"]
    trained.save_pretrained(tmp_path)
    ensure_chat_template(load_model("tiny", CACHE_DIR).tokenizer).save_pretrained(tmp_path)

    loaded = load_model("tiny", CACHE_DIR, adapter_dir=tmp_path)

    assert loaded.tokenizer.chat_template == CHAT_TEMPLATE


def test_engine_serves_the_adapter_and_the_base_per_request(adapters, served) -> None:
    engine = GenerationEngine(served, max_concurrency=4)
    plain = GenerationEngine(load_model("tiny", CACHE_DIR))

    with_adapter = engine.generate(PROMPT, max_new_tokens=24)
    without = engine.generate(PROMPT, max_new_tokens=24, adapter=BASE_ADAPTER)

    assert with_adapter.adapter == "melancia-v1" and without.adapter is None
    assert without.text == plain.generate(PROMPT, max_new_tokens=24).text
    assert with_adapter.text != without.text


def test_resident_adapters_can_be_mixed_across_threads(adapters, served) -> None:
    engine = GenerationEngine(served, max_concurrency=4)
    engine.load_adapter("melancia-v2", adapters["melancia-v2"][0])
    choices = ["melancia-v1", "melancia-v2", BASE_ADAPTER] * 3
    expected = {c: engine.generate(PROMPT, max_new_tokens=24, adapter=c).text for c in set(choices)}

    with ThreadPoolExecutor(max_workers=len(choices)) as pool:
        texts = list(
            pool.map(lambda c: engine.generate(PROMPT, max_new_tokens=24, adapter=c).text, choices)
        )

    assert texts == [expected[c] for c in choices]
    assert len(set(expected.values())) == 3
    engine.unload_adapter("melancia-v2")
    assert engine.adapters == ["melancia-v1"]
    engine.generate(PROMPT, max_new_tokens=4, adapter="melancia-v1")


def test_unknown_adapter_is_rejected_before_generating(served) -> None:
    engine = GenerationEngine(served)

    with pytest.raises(KeyError, match="not loaded"):
        engine.generate_stream(PROMPT, max_new_tokens=4, adapter="nope")


def test_cached_prefixes_belong_to_one_adapter(served) -> None:
    engine = GenerationEngine(served)
    cached = engine.cache_prefix("<start_of_turn>user\n")

    on_adapter = engine.generate(PROMPT, max_new_tokens=4)
    on_base = engine.generate(PROMPT, max_new_tokens=4, adapter=BASE_ADAPTER)

    assert on_adapter.cached_prompt_tokens == cached > 0
    assert on_base.cached_prompt_tokens == 0


def test_hot_swap_from_the_base_model_to_new_adapter_versions(adapters) -> None:
    engine = GenerationEngine(load_model("tiny", CACHE_DIR))
    expected = {
        name: GenerationEngine(load_model("tiny", CACHE_DIR, adapter_dir=path))
        .generate(PROMPT, max_new_tokens=16)
        .text
        for name, (path, _) in adapters.items()
    }
    plain = engine.generate(PROMPT, max_new_tokens=16).text

    engine.load_adapter("melancia-v1", adapters["melancia-v1"][0], make_default=True)
    first = engine.generate(PROMPT, max_new_tokens=16)
    engine.load_adapter("melancia-v2", adapters["melancia-v2"][0], make_default=True)
    engine.unload_adapter("melancia-v1")
    second = engine.generate(PROMPT, max_new_tokens=16)

    assert (first.adapter, first.text) == ("melancia-v1", expected["melancia-v1"])
    assert (second.adapter, second.text) == ("melancia-v2", expected["melancia-v2"])
    assert engine.loaded.adapter == "melancia-v2" and engine.adapters == ["melancia-v2"]
    engine.unload_adapter("melancia-v2")
    assert engine.loaded.adapter is None and engine.adapters == []
    after = engine.generate(PROMPT, max_new_tokens=16)
    assert (after.adapter, after.text) == (None, plain)


def _base_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Return the base model's own parameters, named as in the bare model (LoRA ones left out)."""
    from peft import PeftModel

    inner = model.get_base_model() if isinstance(model, PeftModel) else model
    return {
        name.replace(".base_layer.", "."): tensor
        for name, tensor in inner.state_dict().items()
        if "lora_" not in name
    }


def _served_logits(engine: GenerationEngine, adapter: str) -> torch.Tensor:
    # A generation leaves its adapter active on the model for the direct forward after it.
    engine.generate(PROMPT, max_new_tokens=1, adapter=adapter)
    return _logits(engine.loaded.model, engine.loaded.tokenizer, PROMPT)


def test_merged_adapters_answer_as_peft_unmerged_does(adapters) -> None:
    from peft.tuners.lora import LoraLayer

    v1, v2 = adapters["melancia-v1"][0], adapters["melancia-v2"][0]
    merged = GenerationEngine(load_model("tiny", CACHE_DIR, adapter_dir=v1))
    unmerged = GenerationEngine(load_model("tiny", CACHE_DIR, adapter_dir=v1), merge_adapters=False)
    for engine in (merged, unmerged):
        engine.load_adapter("melancia-v2", v2)

    for name in ("melancia-v1", "melancia-v2", BASE_ADAPTER):
        want = _served_logits(unmerged, name)
        got = _served_logits(merged, name)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
        assert (
            merged.generate(PROMPT, max_new_tokens=24, adapter=name).text
            == unmerged.generate(PROMPT, max_new_tokens=24, adapter=name).text
        )
        # The speed comes from here: only the base linears run, and PEFT knows of no merge.
        layers = [m for m in merged.loaded.model.modules() if isinstance(m, LoraLayer)]
        assert all(m.disable_adapters and not m.merged_adapters for m in layers)
    assert merged.loaded.merged is not None and unmerged.loaded.merged is None
    torch.testing.assert_close(
        _served_logits(merged, "melancia-v1"),
        _logits(adapters["melancia-v1"][1], merged.loaded.tokenizer, PROMPT),
        rtol=1e-5,
        atol=1e-5,
    )


def test_switching_adapters_many_times_leaves_no_drift(adapters) -> None:
    pristine = _base_weights(load_model("tiny", CACHE_DIR).model)
    engine = GenerationEngine(
        load_model("tiny", CACHE_DIR, adapter_dir=adapters["melancia-v1"][0]), max_concurrency=2
    )
    engine.load_adapter("melancia-v2", adapters["melancia-v2"][0])
    cycle = ["melancia-v1", "melancia-v2", BASE_ADAPTER]
    first = {name: _served_logits(engine, name) for name in cycle}

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. PEFT's "Already unmerged" UserWarning
        for step in range(200):
            engine.generate(PROMPT, max_new_tokens=1, adapter=cycle[step % len(cycle)])
        last = {name: _served_logits(engine, name) for name in cycle}

    after = _base_weights(engine.loaded.model)
    assert all(torch.equal(after[name], weight) for name, weight in pristine.items())
    assert all(torch.equal(last[name], first[name]) for name in cycle)
    engine.generate(PROMPT, max_new_tokens=1, adapter="melancia-v2")
    engine.unload_adapter("melancia-v1")
    engine.unload_adapter("melancia-v2")  # merged when the LoRA layers are stripped
    stripped = _base_weights(engine.loaded.model)
    assert stripped.keys() == pristine.keys()
    assert all(torch.equal(stripped[name], weight) for name, weight in pristine.items())


def test_dora_stays_unmerged_beside_merged_lora(adapters, tmp_path: Path) -> None:
    torch.manual_seed(7)
    base = AutoModelForCausalLM.from_pretrained(ensure_model("tiny", CACHE_DIR))
    config = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], use_dora=True)
    dora = get_peft_model(base, config, adapter_name="dora").eval()
    with torch.no_grad():  # DoRA starts as the identity; make its magnitudes matter
        for name, param in dora.named_parameters():
            if "lora_" in name:
                param.add_(torch.randn_like(param) * 0.1)
    dora.save_pretrained(tmp_path)
    engine = GenerationEngine(load_model("tiny", CACHE_DIR, adapter_dir=adapters["melancia-v1"][0]))
    engine.load_adapter("dora", tmp_path / "dora")

    assert engine.loaded.merged is not None
    assert engine.loaded.merged.mergeable("melancia-v1")
    assert not engine.loaded.merged.mergeable("dora")
    torch.testing.assert_close(
        _served_logits(engine, "dora"),
        _logits(dora, engine.loaded.tokenizer, PROMPT),
        rtol=1e-5,
        atol=1e-5,
    )
    torch.testing.assert_close(
        _served_logits(engine, "melancia-v1"),
        _logits(adapters["melancia-v1"][1], engine.loaded.tokenizer, PROMPT),
        rtol=1e-5,
        atol=1e-5,
    )


def test_adapters_other_than_plain_lora_are_not_merged() -> None:
    base = AutoModelForCausalLM.from_pretrained(ensure_model("tiny", CACHE_DIR))
    ia3 = get_peft_model(base, IA3Config(target_modules=["k_proj"], feedforward_modules=[]))
    base = AutoModelForCausalLM.from_pretrained(ensure_model("tiny", CACHE_DIR))
    biased = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj"], lora_bias=True))

    assert "not LoRA" in str(unmergeable_reason(ia3, "default"))
    assert unmergeable_reason(biased, "default") == "lora_bias is set"


def test_a_failed_load_keeps_the_merged_adapter_served(adapters, tmp_path: Path) -> None:
    engine = GenerationEngine(load_model("tiny", CACHE_DIR, adapter_dir=adapters["melancia-v1"][0]))
    before = _served_logits(engine, "melancia-v1")

    with pytest.raises(ValueError):
        engine.load_adapter("broken", tmp_path / "missing")

    assert engine.adapters == ["melancia-v1"]
    assert torch.equal(_served_logits(engine, "melancia-v1"), before)

"""The shipped adapter: copied small, loads as serving loads it, first champion of a registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.inference.prompting import CHAT_TEMPLATE
from workers.registry.adapters import TEMPLATE_FILE, AdapterCard, read_card, write_card


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Path:
    """A LoRA adapter of the tiny model with its card, as a job leaves it."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from workers.inference.models import ensure_model
    from workers.registry.adapters import template_version

    out = tmp_path_factory.mktemp("job") / "adapter"
    base = AutoModelForCausalLM.from_pretrained(ensure_model("tiny", models_dir))
    model = get_peft_model(
        base, LoraConfig(r=2, target_modules=["q_proj"], init_lora_weights=False)
    )
    model.save_pretrained(str(out))
    (out / TEMPLATE_FILE).write_text(CHAT_TEMPLATE)
    (out / "optimizer.pt").write_bytes(b"not shipped")
    write_card(
        out,
        AdapterCard(
            name="tiny-lora",
            base_model="tiny",
            method="lora",
            dataset_version="ds-test",
            template_version=template_version(CHAT_TEMPLATE),
            metrics={"eval_loss": 1.5},
        ),
    )
    return out


def test_shipping_copies_only_what_serving_needs_and_records_the_probe(
    trained: Path, tmp_path: Path, models_dir: Path
) -> None:
    from workers.training.cli import verify_shipped
    from workers.training.shipped import ship, shipped_adapters

    target = ship(trained, "melancia-tiny-lora", root=tmp_path)
    assert not (target / "optimizer.pt").exists()
    assert (target / "adapter_model.safetensors").is_file()
    verify_shipped(target, models_dir)
    card = read_card(target)
    assert card is not None and card.probe is not None and len(card.probe["token_ids"]) == 8
    assert shipped_adapters(tmp_path) == [target]


def test_the_shipped_adapter_becomes_the_first_champion_of_an_empty_registry_only(
    trained: Path, tmp_path: Path
) -> None:
    from workers.registry import tags, tracking, versions
    from workers.training.shipped import register_shipped_if_empty

    home = tmp_path / "home"
    assert register_shipped_if_empty(home, None, "melancia", trained) == "1"
    client = tracking.client(home)
    champion = versions.alias_version(client, "melancia", "champion")
    assert champion is not None and str(champion.version) == "1"
    assert champion.tags[tags.BASE_MODEL] == "tiny"
    assert champion.tags[tags.SOURCE] == "shipped"
    assert register_shipped_if_empty(home, None, "melancia", trained) is None


def test_inference_serves_the_shipped_adapter_of_the_default_model_by_default(
    trained: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workers.inference import settings as inference_settings

    monkeypatch.setitem(inference_settings.SHIPPED_ADAPTERS, "gemma3-270m", trained)
    settings = inference_settings.InferenceSettings
    assert settings().adapter_dir == trained
    assert settings(shipped_adapter=False).adapter_dir is None
    assert settings(base_model="tiny").adapter_dir is None
    assert settings(adapter_dir=Path("/elsewhere")).adapter_dir == Path("/elsewhere")


def test_a_shipped_evaluation_becomes_the_first_versions_model_card(
    trained: Path, tmp_path: Path
) -> None:
    import json
    import shutil

    from workers.registry import tracking
    from workers.registry.model_card import CARD_MARKER
    from workers.registry.promotion import TAG_EVAL_RUN
    from workers.training.shipped import EVALUATION_NAME, readme, register_shipped_if_empty

    adapter = tmp_path / "adapter"
    shutil.copytree(trained, adapter)
    row = {
        "id": "q1",
        "category": "metricas",
        "difficulty": "basico",
        "question": "O que é ACOS?",
        "reference": "ACOS é o custo de anúncios sobre a venda.",
        "latency_s": 1.0,
        "ttft_s": 0.1,
        "completion_tokens": 9,
        "tokens_per_s": 9.0,
        "finish_reason": "stop",
    }
    summary = {
        "candidate": {"rougeL": 0.4, "perplexity": 12.0},
        "base": {"rougeL": 0.1, "perplexity": 30.0},
    }
    data = {
        side: {
            "label": label,
            "base_model": "tiny",
            "model": f"tiny+{label}",
            "summary": summary[label],
            "per_category": {"metricas": {**summary[label], "questions": 1}},
        }
        for side, label in (("candidate", "candidate"), ("baseline", "base"))
    }
    data |= {
        "subset": "1 question",
        "baseline_label": "base model tiny",
        "primary_metric": "rougeL",
        "questions": [
            {"model": "candidate", **row, "answer": "ACOS é custo sobre venda.", "rougeL": 0.4},
            {"model": "base", **row, "answer": "Pergunta: ...", "rougeL": 0.1},
        ],
    }
    (adapter / EVALUATION_NAME).write_text(json.dumps(data))

    home = tmp_path / "home"
    assert register_shipped_if_empty(home, None, "melancia", adapter) == "1"
    client = tracking.client(home)
    version = client.get_model_version("melancia", "1")
    run_id = version.tags[TAG_EVAL_RUN]
    assert client.get_run(run_id).data.metrics["candidate.rougeL"] == 0.4
    assert client.get_run(run_id).data.metrics["baseline.perplexity"] == 30.0
    card = version.description
    assert card.startswith(CARD_MARKER) and "base model tiny" in card and "0.4000" in card
    assert "| rougeL | 0.4000 | 0.1000 | +0.3000 |" in readme(adapter)

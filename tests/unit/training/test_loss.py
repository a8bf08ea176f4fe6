"""The recipe's loss equals the stock causal-LM loss; the shared prefix leaves it unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from workers.training.formatting import IGNORE, Collator, encode_conversation
from workers.training.trainer import labelled_loss, shared_prefix_length

SYSTEM = {"role": "system", "content": "Você é a MelancIA, assistente de Retail Media."}


@pytest.fixture(scope="module")
def setup(models_dir: Path):  # type: ignore[no-untyped-def]
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from workers.inference.models import ensure_model
    from workers.inference.prompting import ensure_chat_template

    path = ensure_model("tiny", models_dir)
    tokenizer = ensure_chat_template(AutoTokenizer.from_pretrained(path))
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    config = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    model = get_peft_model(base, config).eval()
    rows = [
        encode_conversation(
            tokenizer,
            [SYSTEM, {"role": "user", "content": q}, {"role": "assistant", "content": a}],
            max_seq_len=512,
        )
        for q, a in [
            ("O que é ACOS?", "Investimento dividido pela receita."),
            ("E o ROAS, como se calcula?", "Receita dividida pelo investimento, sem multiplicar."),
            ("CPC?", "Custo por clique."),
        ]
    ]
    batch = Collator(0)([{"input_ids": r.input_ids, "labels": r.labels} for r in rows if r])
    return model, batch


def test_logits_at_labelled_positions_only_give_the_stock_loss(setup) -> None:  # type: ignore[no-untyped-def]
    model, batch = setup
    with torch.no_grad():
        stock = model(**batch).loss
        ours, outputs = labelled_loss(model, batch, None)
    assert torch.allclose(ours, stock, atol=1e-6)
    assert outputs.logits.shape[1] < batch["input_ids"].shape[1]


def test_the_shared_prefix_is_the_common_unlabelled_start(setup) -> None:  # type: ignore[no-untyped-def]
    _, batch = setup
    ids, labels = batch["input_ids"], batch["labels"]
    length = shared_prefix_length(ids, labels)
    assert length > 0
    assert (ids[:, :length] == ids[:1, :length]).all()
    assert (labels[:, : length + 1] == IGNORE).all()
    assert not (ids[:, length] == ids[0, length]).all() or (labels[:, length + 1] != IGNORE).any()
    assert shared_prefix_length(ids[:1], labels[:1]) == 0  # one row: nothing to share


def test_sharing_the_prefix_keeps_the_loss_and_trains_the_adapter(setup) -> None:  # type: ignore[no-untyped-def]
    model, batch = setup
    with torch.no_grad():
        whole, _ = labelled_loss(model, batch, None)
    shared, _ = labelled_loss(model, batch, None, share_prefix=True)
    assert torch.allclose(shared, whole, atol=1e-5)
    shared.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)
    model.zero_grad()


def test_num_items_in_batch_normalizes_across_accumulated_micro_batches(setup) -> None:  # type: ignore[no-untyped-def]
    model, batch = setup
    tokens = int((batch["labels"][:, 1:] != IGNORE).sum())
    with torch.no_grad():
        mean, _ = labelled_loss(model, batch, None)
        summed, _ = labelled_loss(model, batch, 2 * tokens)
    assert torch.allclose(summed * 2, mean, atol=1e-6)

"""Assistant-only labels: the loss sees the answer and its end-of-turn, nothing of the prompt."""

from pathlib import Path

import pytest
from transformers import AutoTokenizer

from workers.inference.prompting import apply_chat_template, ensure_chat_template
from workers.training.formatting import IGNORE, Collator, encode_conversation, encode_text

CONVERSATION = [
    {"role": "system", "content": "Você é a MelancIA."},
    {"role": "user", "content": "O que é ACOS?"},
    {"role": "assistant", "content": "ACOS é investimento ÷ receita × 100."},
]


@pytest.fixture(scope="module")
def tokenizer(models_dir: Path):  # type: ignore[no-untyped-def]
    from workers.inference.models import ensure_model

    return ensure_chat_template(AutoTokenizer.from_pretrained(ensure_model("tiny", models_dir)))


def test_only_the_answer_and_its_end_of_turn_are_labelled(tokenizer) -> None:  # type: ignore[no-untyped-def]
    encoded = encode_conversation(tokenizer, CONVERSATION, max_seq_len=4096)
    assert encoded is not None
    prompt = apply_chat_template(tokenizer, CONVERSATION[:2], add_generation_prompt=True)
    prompt_ids = encode_text(tokenizer, prompt)
    # Every prompt token (system prompt, question, the model-turn header) is ignored...
    assert encoded.labels[: len(prompt_ids)] == [IGNORE] * len(prompt_ids)
    assert encoded.input_ids[: len(prompt_ids)] == prompt_ids
    # ...and every token after it is learned: the answer, then the end-of-turn marker.
    answer = encoded.labels[len(prompt_ids) :]
    assert IGNORE not in answer
    assert answer == encoded.input_ids[len(prompt_ids) :]
    learned = tokenizer.decode(answer)
    assert "ACOS é investimento" in learned
    assert learned.rstrip().endswith("<end_of_turn>")


def test_the_rendering_is_the_serving_prompt_plus_the_answer(tokenizer) -> None:  # type: ignore[no-untyped-def]
    encoded = encode_conversation(tokenizer, CONVERSATION, max_seq_len=4096)
    assert encoded is not None
    full = apply_chat_template(tokenizer, CONVERSATION, add_generation_prompt=False)
    assert encoded.input_ids == encode_text(tokenizer, full)


def test_every_assistant_turn_of_a_multi_turn_conversation_is_labelled(tokenizer) -> None:  # type: ignore[no-untyped-def]
    turns = [
        *CONVERSATION,
        {"role": "user", "content": "E ROAS?"},
        {"role": "assistant", "content": "ROAS é receita ÷ investimento."},
    ]
    encoded = encode_conversation(tokenizer, turns, max_seq_len=4096)
    assert encoded is not None
    learned = tokenizer.decode([t for t in encoded.labels if t != IGNORE])
    assert "ACOS é investimento" in learned and "ROAS é receita" in learned
    assert "E ROAS?" not in learned and "O que é ACOS?" not in learned


def test_truncation_keeps_the_prompt_and_drops_rows_left_without_labels(tokenizer) -> None:  # type: ignore[no-untyped-def]
    full = encode_conversation(tokenizer, CONVERSATION, max_seq_len=4096)
    assert full is not None
    first_label = next(i for i, t in enumerate(full.labels) if t != IGNORE)
    cut = encode_conversation(tokenizer, CONVERSATION, max_seq_len=first_label + 2)
    assert cut is not None and len(cut.input_ids) == first_label + 2
    assert cut.trained_tokens == 2
    assert encode_conversation(tokenizer, CONVERSATION, max_seq_len=first_label) is None


def test_the_collator_pads_right_and_masks_padding_out_of_attention_and_loss() -> None:
    batch = Collator(pad_token_id=0)(
        [{"input_ids": [5, 6, 7], "labels": [IGNORE, 6, 7]}, {"input_ids": [8], "labels": [8]}]
    )
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[IGNORE, 6, 7], [8, IGNORE, IGNORE]]

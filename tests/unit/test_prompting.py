"""The project chat template and message building, with an in-memory tokenizer."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from jinja2 import TemplateError
from tokenizers import Tokenizer, models
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from data.pipeline.prompts import SYSTEM_PROMPT
from workers.inference.prompting import (
    CHAT_TEMPLATE,
    FEW_SHOT,
    QUESTION_LABEL,
    TEMPLATE_VERSION,
    apply_chat_template,
    build_messages,
    ensure_chat_template,
    shared_prefix,
)

CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@pytest.fixture
def tokenizer() -> PreTrainedTokenizerFast:
    """Return a template-less tokenizer, like the one converted from Gemma's GGUF."""
    vocab = {"<unk>": 0, "<bos>": 1, "<eos>": 2}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<bos>", eos_token="<eos>", unk_token="<unk>"
    )


def test_renders_gemma_turns_with_system_folded_into_first_user_turn(tokenizer) -> None:
    messages = build_messages("Quanto é o ACOS?", few_shot=False)

    text = apply_chat_template(tokenizer, messages, add_generation_prompt=True)

    assert text == (
        "<bos><start_of_turn>user\n"
        f"{SYSTEM_PROMPT}\n\nQuanto é o ACOS?<end_of_turn>\n"
        "<start_of_turn>model\n"
    )


def test_few_shot_examples_precede_the_labeled_question(tokenizer) -> None:
    messages = build_messages("O que é CPC?")

    text = apply_chat_template(tokenizer, messages, add_generation_prompt=True)

    assert text.count(SYSTEM_PROMPT) == 1
    assert text.count("<start_of_turn>user\n") == len(FEW_SHOT) + 1
    assert text.count("<start_of_turn>model\n") == len(FEW_SHOT) + 1
    first_question = FEW_SHOT[0][0]
    assert text.startswith(
        f"<bos><start_of_turn>user\n{SYSTEM_PROMPT}\n\n{QUESTION_LABEL}{first_question}"
    )
    for question, answer in FEW_SHOT:
        assert f"{QUESTION_LABEL}{question}<end_of_turn>\n<start_of_turn>model\n{answer}" in text
    assert text.endswith(f"{QUESTION_LABEL}O que é CPC?<end_of_turn>\n<start_of_turn>model\n")


def test_few_shot_answers_use_the_project_formulas() -> None:
    acos, roas = FEW_SHOT[0][1], FEW_SHOT[1][1]

    assert "ACOS = investimento ÷ receita dos anúncios × 100" in acos
    assert "500 ÷ 2.000 × 100 = 25%" in acos
    assert "ROAS = receita dos anúncios ÷ investimento" in roas
    assert "2.000 ÷ 500 = 4" in roas


def test_history_and_context_go_before_the_question() -> None:
    history = [
        {"role": "user", "content": "Oi"},
        {"role": "assistant", "content": "Olá! Como posso ajudar?"},
    ]

    messages = build_messages(
        "E o TACoS?",
        history=history,
        context=["TACoS = investimento ÷ receita total × 100."],
        few_shot=False,
    )

    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[-1]["content"] == (
        "Contexto:\n[1] TACoS = investimento ÷ receita total × 100.\n\n"
        "Use o contexto acima quando ele for relevante.\n\n"
        "Pergunta: E o TACoS?"
    )


def test_bad_history_role_and_empty_question_are_rejected() -> None:
    with pytest.raises(ValueError, match="roles"):
        build_messages("Oi?", history=[{"role": "system", "content": "x"}])
    with pytest.raises(ValueError, match="empty"):
        build_messages("   ")


def test_non_alternating_turns_raise(tokenizer) -> None:
    messages = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]

    with pytest.raises(TemplateError, match="alternate"):
        apply_chat_template(tokenizer, messages, add_generation_prompt=True)


def test_closed_assistant_turn_without_generation_prompt(tokenizer) -> None:
    messages = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "P"},
        {"role": "assistant", "content": "R"},
    ]

    text = apply_chat_template(tokenizer, messages, add_generation_prompt=False)

    assert (
        text
        == "<bos><start_of_turn>user\nS\n\nP<end_of_turn>\n<start_of_turn>model\nR<end_of_turn>\n"
    )


def test_a_tokenizer_with_its_own_template_keeps_it(tokenizer) -> None:
    tokenizer.chat_template = CHATML

    text = apply_chat_template(
        tokenizer, build_messages("Oi?", few_shot=False), add_generation_prompt=True
    )

    assert text.startswith(f"<|im_start|>system\n{SYSTEM_PROMPT}<|im_end|>\n")
    assert text.endswith("<|im_start|>assistant\n")


def test_template_travels_with_a_saved_tokenizer(tokenizer, tmp_path: Path) -> None:
    ensure_chat_template(tokenizer).save_pretrained(tmp_path)

    assert AutoTokenizer.from_pretrained(tmp_path).chat_template == CHAT_TEMPLATE


def test_template_version_hashes_the_template() -> None:
    assert hashlib.sha256(CHAT_TEMPLATE.encode()).hexdigest()[:12] == TEMPLATE_VERSION


def test_shared_prefix_is_what_every_question_starts_with(tokenizer) -> None:
    messages = build_messages("O que é CPC?")

    prefix = shared_prefix(tokenizer, messages)

    assert apply_chat_template(tokenizer, messages, add_generation_prompt=True).startswith(prefix)
    assert prefix.endswith(f"{FEW_SHOT[-1][1]}<end_of_turn>\n<start_of_turn>user\n")
    assert shared_prefix(tokenizer, build_messages("Outra?", context=["x"])) == prefix
    without_examples = shared_prefix(tokenizer, build_messages("Oi?", few_shot=False))
    assert without_examples == f"<bos><start_of_turn>user\n{SYSTEM_PROMPT}\n\n"

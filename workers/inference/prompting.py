"""The project chat template, few-shot examples and message building shared with training."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from data.pipeline.prompts import SYSTEM_PROMPT

# Gemma-style turns. Gemma has no system role, so the system prompt is folded into the first
# user turn, exactly as Google's own Gemma 3 template does. Rendered text already starts with
# the BOS token: tokenize it with add_special_tokens=False.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages and messages[0]['role'] == 'system' -%}"
    "{%- set first_user_prefix = messages[0]['content'] | trim + '\n\n' -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}"
    "{%- set first_user_prefix = '' -%}"
    "{%- set loop_messages = messages -%}"
    "{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{%- endif -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') }}"
    "{{ message['content'] | trim }}"
    "{{ '<end_of_turn>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{ '<start_of_turn>model\n' }}"
    "{%- endif -%}"
)
TEMPLATE_VERSION = hashlib.sha256(CHAT_TEMPLATE.encode("utf-8")).hexdigest()[:12]

# Gemma 3 base never learned the turn tokens: measured here, it answers the few-shot prompt
# when questions carry this label and rambles past the question without it.
QUESTION_LABEL = "Pergunta: "
# Short, correct worked examples in the house style (formula, substitution, result in pt-BR
# number format) so the base model imitates answers before a fine-tuned adapter exists.
FEW_SHOT: tuple[tuple[str, str], ...] = (
    (
        "Como calculo o ACOS de uma campanha?",
        "ACOS = investimento ÷ receita dos anúncios × 100. "
        "Exemplo: R$ 500,00 investidos e R$ 2.000,00 em vendas atribuídas aos anúncios dão "
        "ACOS = 500 ÷ 2.000 × 100 = 25%. Ou seja, a cada R$ 100,00 vendidos, R$ 25,00 foram "
        "gastos com mídia.",
    ),
    (
        "E o ROAS, como funciona?",
        "ROAS = receita dos anúncios ÷ investimento. "
        "Exemplo: R$ 2.000,00 em vendas com R$ 500,00 investidos dão ROAS = 2.000 ÷ 500 = 4, "
        "isto é, R$ 4,00 de receita para cada R$ 1,00 investido. ROAS e ACOS são inversos: "
        "ROAS = 100 ÷ ACOS (em %), então ACOS de 25% equivale a ROAS 4.",
    ),
    (
        "Qual é a capital da Austrália?",
        "Essa pergunta está fora do meu escopo: sou especialista em Retail Media e anúncios "
        "em marketplaces. Posso ajudar com métricas, campanhas, lances ou orçamento.",
    ),
)
PROMPT_VERSION = hashlib.sha256(
    json.dumps([TEMPLATE_VERSION, SYSTEM_PROMPT, QUESTION_LABEL, FEW_SHOT]).encode("utf-8")
).hexdigest()[:12]

_ROLES = ("user", "assistant")


def build_messages(
    question: str,
    *,
    history: list[dict[str, str]] | None = None,
    context: list[str] | None = None,
    few_shot: bool = True,
) -> list[dict[str, str]]:
    """Return chat messages: system prompt, optional few-shot, history, then the question."""
    question = question.strip()
    if not question:
        raise ValueError("question must not be empty")
    messages = [{"role": "system", "content": SYSTEM_PROMPT}]
    if few_shot:
        for asked, answered in FEW_SHOT:
            messages += [
                {"role": "user", "content": QUESTION_LABEL + asked},
                {"role": "assistant", "content": answered},
            ]
    for turn in history or []:
        if turn.get("role") not in _ROLES:
            raise ValueError(f"history roles must be user or assistant, got {turn.get('role')!r}")
        messages.append({"role": turn["role"], "content": turn["content"]})
    messages.append({"role": "user", "content": _user_turn(question, context, few_shot)})
    return messages


def _user_turn(question: str, context: list[str] | None, labeled: bool) -> str:
    passages = [p.strip() for p in context or [] if p.strip()]
    if passages:
        numbered = "\n".join(f"[{i}] {passage}" for i, passage in enumerate(passages, start=1))
        return (
            f"Contexto:\n{numbered}\n\n"
            "Use o contexto acima quando ele for relevante.\n\n"
            f"{QUESTION_LABEL}{question}"
        )
    # Without few-shot (an adapter is serving) the turn is the bare question, the same shape
    # as the training records; the few-shot examples label it like their own questions.
    return QUESTION_LABEL + question if labeled else question


def ensure_chat_template(tokenizer: Any) -> Any:
    """Give a tokenizer without a chat template the project template; return the tokenizer."""
    if not getattr(tokenizer, "chat_template", None):
        # Set on the tokenizer itself so training's save_pretrained ships it with the adapter.
        tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def apply_chat_template(
    tokenizer: Any, messages: list[dict[str, str]], *, add_generation_prompt: bool
) -> str:
    """Render messages as prompt text with the tokenizer's own template or the project one."""
    ensure_chat_template(tokenizer)
    rendered = tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=add_generation_prompt
    )
    return str(rendered)


def shared_prefix(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    """Return the rendered prompt up to the last user turn's content: what requests share."""
    rendered = apply_chat_template(tokenizer, messages, add_generation_prompt=True)
    # Templates trim contents, so look for the trimmed text of the last turn.
    return rendered[: rendered.rindex(messages[-1]["content"].strip())]

"""Chat records → token ids and labels, rendered with the serving chat template.

Loss is on the assistant turns only: every other token's label is IGNORE. A turn's tokens are
what its rendering adds to the rendering of the conversation before it, so the labelled span
covers the answer and the template's end-of-turn marker (the model learns to stop) and nothing
of the prompt the serving side builds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from workers.inference.prompting import apply_chat_template

IGNORE = -100


class TemplateError(ValueError):
    """The chat template does not render a conversation as a prefix-extension of its turns."""


@dataclass(frozen=True)
class Encoded:
    """One training row."""

    input_ids: list[int]
    labels: list[int]

    @property
    def trained_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE)


def encode_text(tokenizer: Any, text: str) -> list[int]:
    """Token ids of rendered text, exactly as the inference engine encodes a prompt."""
    ids: list[int] = tokenizer(text, add_special_tokens=False).input_ids
    bos = tokenizer.bos_token_id
    # Chat templates already render BOS; add it only if the tokenizer wants one and it is missing.
    if bos is not None and ids[:1] != [bos] and tokenizer("a").input_ids[:1] == [bos]:
        ids = [bos, *ids]
    return ids


def encode_conversation(
    tokenizer: Any, messages: Sequence[dict[str, str]], *, max_seq_len: int
) -> Encoded | None:
    """Ids and assistant-only labels of one conversation; None when truncation leaves no label."""
    input_ids: list[int] = []
    labels: list[int] = []
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = apply_chat_template(tokenizer, list(messages[:index]), add_generation_prompt=True)
        upto = apply_chat_template(
            tokenizer, list(messages[: index + 1]), add_generation_prompt=False
        )
        if not upto.startswith(prompt):
            raise TemplateError("the rendered answer turn does not extend the rendered prompt")
        prompt_ids = encode_text(tokenizer, prompt)
        upto_ids = encode_text(tokenizer, upto)
        if upto_ids[: len(prompt_ids)] != prompt_ids:
            raise TemplateError("the answer's first token merges with the end of the prompt")
        if upto_ids[: len(input_ids)] != input_ids:
            raise TemplateError("an earlier turn renders differently once later turns follow")
        new_prompt = prompt_ids[len(input_ids) :]
        answer = upto_ids[len(prompt_ids) :]
        input_ids += new_prompt + answer
        labels += [IGNORE] * len(new_prompt) + answer
    input_ids, labels = input_ids[:max_seq_len], labels[:max_seq_len]
    if not any(label != IGNORE for label in labels):
        return None
    return Encoded(input_ids, labels)


class ChatDataset(torch.utils.data.Dataset[dict[str, list[int]]]):
    """Encoded rows; Trainer's length-grouped sampler reads each row's input_ids."""

    def __init__(self, rows: list[Encoded]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        row = self.rows[index]
        return {"input_ids": row.input_ids, "labels": row.labels}


def encode_records(
    tokenizer: Any, conversations: Sequence[Sequence[dict[str, str]]], *, max_seq_len: int
) -> tuple[ChatDataset, int]:
    """A dataset of the conversations that keep at least one label; and how many were dropped."""
    rows = [encode_conversation(tokenizer, c, max_seq_len=max_seq_len) for c in conversations]
    kept = [row for row in rows if row is not None]
    return ChatDataset(kept), len(rows) - len(kept)


@dataclass(frozen=True)
class Collator:
    """Right-pads a batch; padding is masked out of attention and loss."""

    pad_token_id: int
    pad_to_multiple_of: int | None = None

    def __call__(self, features: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        width = max(len(f["input_ids"]) for f in features)
        if self.pad_to_multiple_of:
            width = -(-width // self.pad_to_multiple_of) * self.pad_to_multiple_of
        ids = torch.full((len(features), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(features), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(features), width), dtype=torch.long)
        for row, feature in enumerate(features):
            n = len(feature["input_ids"])
            ids[row, :n] = torch.tensor(feature["input_ids"])
            labels[row, :n] = torch.tensor(feature["labels"])
            mask[row, :n] = 1
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def pad_token_id(tokenizer: Any) -> int:
    """The pad id, falling back to EOS (masked anyway) for tokenizers without one."""
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0):
        if candidate is not None:
            return int(candidate)
    return 0

"""Per-step decoding helpers: token sampling, stop tokens and incremental detokenization."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch

logger = logging.getLogger(__name__)

# End-of-turn markers of the chat formats we serve; a start-of-turn also ends the answer,
# because a base model that opens a new turn is about to write the user's next message.
_TURN_TOKENS = (
    "<end_of_turn>",
    "<start_of_turn>",
    "<|im_end|>",
    "<|im_start|>",
    "<|eot_id|>",
    "<|endoftext|>",
)
_REPLACEMENT = "\ufffd"


def stop_token_ids(
    tokenizer: Any, model_config: Any, generation_config: Any = None
) -> frozenset[int]:
    """Return the token ids that end a generation for this tokenizer and model."""
    ids: set[int] = set()
    for source in (generation_config, model_config):
        eos = getattr(source, "eos_token_id", None)
        if isinstance(eos, int):
            ids.add(eos)
        elif eos:
            ids.update(int(i) for i in eos)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    vocab = tokenizer.get_vocab()
    ids.update(vocab[token] for token in _TURN_TOKENS if token in vocab)
    return frozenset(ids)


class TokenSampler:
    """Picks the next token: argmax at temperature 0, seeded nucleus sampling otherwise."""

    def __init__(self, *, temperature: float, top_p: float, seed: int | None) -> None:
        if temperature < 0:
            raise ValueError("temperature must be >= 0")
        if not 0 < top_p <= 1:
            raise ValueError("top_p must be in (0, 1]")
        self.temperature = temperature
        self.top_p = top_p
        # A private generator per request: the global RNG is shared by concurrent generations.
        self.generator = torch.Generator()
        if seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(seed)

    def __call__(self, logits: torch.Tensor) -> int:
        """Return the next token id from the logits of the last position."""
        if self.temperature == 0:
            return int(torch.argmax(logits))
        probs = torch.softmax(logits.float() / self.temperature, dim=-1)
        if self.top_p >= 1:
            return int(torch.multinomial(probs, 1, generator=self.generator))
        sorted_probs, order = torch.sort(probs, descending=True)
        # Keep the smallest prefix whose mass reaches top_p (always at least the top token).
        outside = torch.cumsum(sorted_probs, dim=-1) - sorted_probs >= self.top_p
        sorted_probs = sorted_probs.masked_fill(outside, 0.0)
        choice = torch.multinomial(sorted_probs, 1, generator=self.generator)
        return int(order[choice])


class IncrementalDecoder:
    """Turns a growing token sequence into text deltas whose concatenation is the final text."""

    def __init__(self, decode: Callable[[list[int]], str]) -> None:
        self._decode = decode
        self.text = ""

    def push(self, token_ids: list[int]) -> str:
        """Return the text that the latest tokens add, or "" while it may still change."""
        text = self._decode(token_ids)
        # A trailing U+FFFD is an incomplete UTF-8 sequence split across byte tokens.
        if text.endswith(_REPLACEMENT) or not text.startswith(self.text):
            return ""
        return self._advance(text)

    def flush(self, token_ids: list[int]) -> str:
        """Return whatever text is still held back once generation has ended."""
        text = self._decode(token_ids).rstrip(_REPLACEMENT)
        if not text.startswith(self.text):
            # Never observed with clean_up_tokenization_spaces=False; keep the emitted text as truth.
            logger.warning("detokenized text diverged from what was streamed; keeping the stream")
            return ""
        return self._advance(text)

    def _advance(self, text: str) -> str:
        delta = text[len(self.text) :]
        self.text = text
        return delta

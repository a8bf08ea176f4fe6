"""What a generation produces: streamed deltas and the final result."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

FinishReason = Literal["stop", "length", "cancelled"]


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of streamed text and how many generated tokens it covers."""

    text: str
    token_count: int


@dataclass(frozen=True, slots=True)
class GenerationResult:
    """The outcome of one generation; text equals the concatenation of its deltas."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: FinishReason
    ttft_s: float
    total_s: float
    tokens_per_s: float = 0.0
    queued_s: float = 0.0
    adapter: str | None = None
    cached_prompt_tokens: int = 0


class GenerationStream(Iterator[Delta]):
    """Iterates the deltas of one generation; `result` is set once iteration ends.

    Use it as a context manager (or call close()) when you may stop iterating early: the
    generation holds a concurrency slot until its generator is closed.
    """

    def __init__(self, steps: Generator[Delta, None, GenerationResult]) -> None:
        self._steps = steps
        self.result: GenerationResult | None = None

    def __iter__(self) -> GenerationStream:
        return self

    def __next__(self) -> Delta:
        try:
            return next(self._steps)
        except StopIteration as stop:
            self.result = stop.value
            raise StopIteration from None

    def close(self) -> None:
        """Abandon the generation and release what it holds."""
        self._steps.close()

    def __enter__(self) -> GenerationStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

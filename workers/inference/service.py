"""Answering one query: prompt, stream tokens to a sink, report the query-log record.

Plain logic; the transport gives it a `ReplySink` (the requester's reply topic in production,
a list in tests).
"""

from __future__ import annotations

import itertools
import logging
import time
from typing import Protocol

from schemas.common import Usage
from schemas.query import (
    Done,
    Failed,
    QueryCompleted,
    QueryReply,
    QueryRequested,
    Started,
    TokenChunk,
)
from workers.inference.cancellation import Cancellations
from workers.inference.engine import GenerationEngine
from workers.inference.prompting import apply_chat_template, build_messages

logger = logging.getLogger(__name__)


class ReplySink(Protocol):
    async def send(self, reply: QueryReply) -> None: ...


class InferenceService:
    """Serves one model (optionally with an adapter) to any number of concurrent queries."""

    def __init__(
        self,
        *,
        engine: GenerationEngine,
        model_name: str,
        worker_id: str,
        coalesce_s: float,
        max_new_tokens_cap: int,
        few_shot: bool,
        variant: str = "default",
    ) -> None:
        self.engine = engine
        self.model_name = model_name
        self.worker_id = worker_id
        self.coalesce_s = coalesce_s
        self.max_new_tokens_cap = max_new_tokens_cap
        self.few_shot = few_shot
        self.variant = variant
        self.cancellations = Cancellations()

    @property
    def adapter(self) -> str | None:
        return self.engine.loaded.adapter

    def prompt_for(self, request: QueryRequested) -> str:
        """The exact prompt text the model sees for this request."""
        messages = build_messages(
            request.question,
            history=[turn.model_dump() for turn in request.history],
            few_shot=self.few_shot and self.adapter is None,
        )
        return apply_chat_template(
            self.engine.loaded.tokenizer, messages, add_generation_prompt=True
        )

    async def answer(self, request: QueryRequested, sink: ReplySink) -> QueryCompleted:
        """Generate the answer, streaming coalesced chunks, then exactly one Done or Failed."""
        started = time.monotonic()
        seq = itertools.count()
        stop = self.cancellations.register(request.query_id)
        params = request.params
        await sink.send(
            Started(
                query_id=request.query_id,
                seq=next(seq),
                worker_id=self.worker_id,
                model=self.model_name,
                variant=self.variant,
            )
        )
        pending: list[str] = []
        pending_tokens = 0
        last_flush = started
        answer: list[str] = []
        first_text_at: float | None = None  # user-facing: includes prompt building and queueing
        try:
            stream = self.engine.astream(
                self.prompt_for(request),
                max_new_tokens=min(params.max_new_tokens, self.max_new_tokens_cap),
                temperature=params.temperature,
                top_p=params.top_p,
                seed=params.seed,
                cancel_event=stop,
            )
            async for delta in stream:
                if first_text_at is None and delta.text:
                    first_text_at = time.monotonic()
                pending.append(delta.text)
                pending_tokens += delta.token_count
                now = time.monotonic()
                # The first chunk goes out at once (time to first token); later ones coalesce.
                if request.stream and (not answer or now - last_flush >= self.coalesce_s):
                    text = "".join(pending)
                    answer.append(text)
                    await sink.send(
                        TokenChunk(
                            query_id=request.query_id,
                            seq=next(seq),
                            text=text,
                            tokens=pending_tokens,
                        )
                    )
                    pending, pending_tokens, last_flush = [], 0, now
            if pending:
                text = "".join(pending)
                answer.append(text)
                await sink.send(
                    TokenChunk(
                        query_id=request.query_id, seq=next(seq), text=text, tokens=pending_tokens
                    )
                )
            result = stream.result
            if result is None:
                raise RuntimeError("generation ended without a result")
        except Exception as exc:
            logger.exception("generation failed for %s", request.query_id)
            await sink.send(
                Failed(
                    query_id=request.query_id, seq=next(seq), error=f"{type(exc).__name__}: {exc}"
                )
            )
            return self._record(request, "".join(answer), started, error=str(exc))
        finally:
            self.cancellations.release(request.query_id)
        usage = Usage(
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            latency_ms=(time.monotonic() - started) * 1000,
            ttft_ms=(first_text_at - started) * 1000 if first_text_at is not None else None,
            tokens_per_s=result.tokens_per_s,
        )
        await sink.send(
            Done(
                query_id=request.query_id,
                seq=next(seq),
                model=self.model_name,
                variant=self.variant,
                finish_reason=result.finish_reason,
                usage=usage,
            )
        )
        return self._record(request, result.text, started, usage=usage, finish=result.finish_reason)

    def _record(
        self,
        request: QueryRequested,
        answer: str,
        started: float,
        *,
        usage: Usage | None = None,
        finish: str = "error",
        error: str | None = None,
    ) -> QueryCompleted:
        return QueryCompleted(
            query_id=request.query_id,
            user_id=request.user_id,
            tier=request.tier,
            question=request.question,
            answer=answer,
            model=self.model_name,
            variant=self.variant,
            adapter=self.adapter,
            worker_id=self.worker_id,
            finish_reason=finish,  # type: ignore[arg-type]
            latency_ms=usage.latency_ms if usage else (time.monotonic() - started) * 1000,
            ttft_ms=usage.ttft_ms if usage else None,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            error=error,
        )

"""Answering one query: prompt, stream tokens to a sink, report the query-log record.

Plain logic; the transport gives it a `ReplySink` (the requester's reply topic in production,
a list in tests).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from typing import Protocol

from schemas.common import FinishReason, Usage
from schemas.query import (
    Done,
    Failed,
    QueryCompleted,
    QueryReply,
    QueryRequested,
    RetrievedRef,
    Sources,
    Started,
    TokenChunk,
)
from workers.inference.adapters import BASE_ADAPTER
from workers.inference.cancellation import Cancellations
from workers.inference.engine import GenerationEngine
from workers.inference.prompting import apply_chat_template, build_messages, shared_prefix
from workers.inference.retrieval import Retrieval, Retriever
from workers.inference.telemetry import InferenceTelemetry
from workers.inference.variants import Variants

# What MelancIA says instead of generating when retrieval finds nothing close to the question.
OUT_OF_SCOPE_ANSWER = (
    "Essa pergunta está fora do meu escopo: sou a MelancIA, especialista em Retail Media e "
    "anúncios em marketplaces (Mercado Livre, Amazon, Shopee, Magalu). Posso ajudar com "
    "métricas como ACOS, ROAS, TACoS e CPC, com campanhas, lances, orçamento e palavras-chave."
)

logger = logging.getLogger(__name__)


class ReplySink(Protocol):
    async def send(self, reply: QueryReply) -> None: ...


class FirstTokenClock:
    """How long this worker takes from its Sources event to the first token, per prompt token
    it has to prefill.

    That time is mostly the prefill, which grows with the prompt tokens a cached prefix does not
    cover, so the clock keeps the seconds per such token of recent answers and scales them to
    the next prompt. It announces the quick case, a low quantile of those answers, learnt only
    from answers that had the model to themselves: a first token may come later than announced
    (under load, or on a slow draw), seldom earlier.
    """

    def __init__(self, window: int = 20, quantile: float = 0.2) -> None:
        self.quantile = quantile
        self._rates: deque[float] = deque(maxlen=window)

    def observe(self, seconds: float, tokens: int) -> None:
        self._rates.append(seconds / max(tokens, 1))

    @property
    def per_token_s(self) -> float | None:
        """The quick case's seconds per prompt token; None before any answer."""
        if not self._rates:
            return None
        ordered = sorted(self._rates)
        return ordered[int(self.quantile * (len(ordered) - 1))]

    def eta_ms(self, tokens: int) -> float | None:
        """The estimate for a prompt with this many tokens to prefill; None before any answer."""
        rate = self.per_token_s
        return None if rate is None else round(rate * max(tokens, 1) * 1000, 1)


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
        retriever: Retriever | None = None,
        variants: Variants | None = None,
        telemetry: InferenceTelemetry | None = None,
    ) -> None:
        self.engine = engine
        self.model_name = model_name
        self.worker_id = worker_id
        self.coalesce_s = coalesce_s
        self.max_new_tokens_cap = max_new_tokens_cap
        self.few_shot = few_shot
        self.retriever = retriever
        # Which adapter answers each variant (champion, challenger, base); swapped live.
        self.variants = variants or Variants(engine)
        self.cancellations = Cancellations()
        self._prefixes: dict[bool, str] = {}  # shared prompt prefix, by few-shot or not
        self.first_token = FirstTokenClock()
        self.telemetry = telemetry or InferenceTelemetry()

    @property
    def adapter(self) -> str | None:
        return self.engine.loaded.adapter

    def report_serving(self) -> None:
        """Refresh the served-models metric (at start and after every swap)."""
        self.telemetry.serving(self.model_name, self.variants.arms())

    def prompt_for(
        self,
        request: QueryRequested,
        context: list[str] | None = None,
        *,
        adapter: str | None = None,
    ) -> str:
        """The exact prompt text the model sees for this request (adapter None: the default)."""
        serving = adapter or self.engine.default_adapter
        messages = build_messages(
            request.question,
            history=[turn.model_dump() for turn in request.history],
            context=context,
            few_shot=self.few_shot and serving == BASE_ADAPTER,
        )
        return apply_chat_template(
            self.engine.loaded.tokenizer, messages, add_generation_prompt=True
        )

    def prompt_prefix(self, adapter: str | None = None) -> str:
        """What every prompt of this adapter starts with: system prompt (and few-shot)."""
        serving = adapter or self.engine.default_adapter
        few_shot = self.few_shot and serving == BASE_ADAPTER
        if few_shot not in self._prefixes:
            messages = build_messages("?", context=["?"], few_shot=few_shot)
            self._prefixes[few_shot] = shared_prefix(self.engine.loaded.tokenizer, messages)
        return self._prefixes[few_shot]

    async def warm_prefix(self, adapter: str | None = None) -> None:
        """Prefill the shared prefix once (again after a swap cleared it), in a thread."""
        await asyncio.to_thread(
            self.engine.ensure_prefix, self.prompt_prefix(adapter), adapter=adapter
        )

    async def prepared_prompt(
        self, request: QueryRequested, retrieval: Retrieval | None, adapter: str | None
    ) -> str:
        """The grounded prompt, once its shared prefix is cached for the adapter."""
        await self.warm_prefix(adapter)
        return self.grounded_prompt(request, retrieval, adapter=adapter)

    def grounded_prompt(
        self, request: QueryRequested, retrieval: Retrieval | None, *, adapter: str | None = None
    ) -> str:
        """The prompt with as many retrieved passages as fit beside the answer's tokens."""
        context = [p.text for p in retrieval.passages] if retrieval else []
        room = self.engine.context_length - min(
            request.params.max_new_tokens, self.max_new_tokens_cap
        )
        while True:
            prompt = self.prompt_for(request, context, adapter=adapter)
            if not context or self.engine.count_tokens(prompt) <= room:
                return prompt
            context = context[:-1]  # the lowest-ranked passage goes first

    def retrieval_query(self, request: QueryRequested) -> str:
        """The question, after the previous user turn so that follow-ups keep their topic."""
        earlier = [t.content for t in request.history if t.role == "user"]
        return f"{earlier[-1]}\n{request.question}" if earlier else request.question

    async def answer(self, request: QueryRequested, sink: ReplySink) -> QueryCompleted:
        """Generate the answer, streaming coalesced chunks, then exactly one Done or Failed."""
        started = time.monotonic()
        seq = itertools.count()
        stop = self.cancellations.register(request.query_id)
        params = request.params
        # Resolved once: a swap while this answer streams does not change its adapter.
        variant, arm = self.variants.resolve(request.model)
        label = arm.label(variant)
        await sink.send(
            Started(
                query_id=request.query_id,
                seq=next(seq),
                worker_id=self.worker_id,
                model=self.model_name,
                variant=label,
            )
        )
        pending: list[str] = []
        pending_tokens = 0
        last_flush = started
        answer: list[str] = []
        first_text_at: float | None = None  # user-facing: includes prompt building and queueing
        retrieval: Retrieval | None = None
        sources_at: float | None = None  # when the first-token estimate was announced
        # The first-token time is learnt only while this is the one answer in progress.
        alone = self.cancellations.running == 1
        self.telemetry.in_flight.inc()
        try:
            prompt: str | None = None
            prefill_tokens = 0  # prompt tokens no cached prefix covers
            if self.retriever is not None:
                with self.telemetry.retrieval.time():
                    retrieval = await asyncio.to_thread(
                        self.retriever.search, self.retrieval_query(request)
                    )
                shown = retrieval.passages if retrieval.in_scope else []
                eta_ms = None
                if retrieval.in_scope:
                    # Built before Sources, so that the estimate is for this prompt's length.
                    prompt = await self.prepared_prompt(request, retrieval, arm.adapter)
                    if request.stream:  # only a stream announces and learns the estimate
                        prefill_tokens = self.engine.uncached_tokens(prompt, adapter=arm.adapter)
                        eta_ms = self.first_token.eta_ms(prefill_tokens)
                await sink.send(
                    Sources(
                        query_id=request.query_id,
                        seq=next(seq),
                        sources=[p.as_source() for p in shown],
                        first_token_eta_ms=eta_ms,
                    )
                )
                sources_at = time.monotonic()
                if not retrieval.in_scope:
                    return await self._out_of_scope(
                        request, sink, seq, started, retrieval, label, cancelled=stop.is_set()
                    )
            if prompt is None:
                prompt = await self.prepared_prompt(request, retrieval, arm.adapter)
            stream = self.engine.astream(
                prompt,
                max_new_tokens=min(params.max_new_tokens, self.max_new_tokens_cap),
                temperature=params.temperature,
                top_p=params.top_p,
                seed=params.seed,
                adapter=arm.adapter,
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
                    if (
                        not answer
                        and sources_at is not None
                        and alone
                        and self.cancellations.running == 1
                    ):
                        self.first_token.observe(now - sources_at, prefill_tokens)
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
            self.telemetry.failed(self.model_name, exc)
            await sink.send(
                Failed(
                    query_id=request.query_id, seq=next(seq), error=f"{type(exc).__name__}: {exc}"
                )
            )
            return self._record(
                request,
                "".join(answer),
                started,
                label,
                arm.adapter,
                error=str(exc),
                retrieval=retrieval,
            )
        finally:
            self.cancellations.release(request.query_id)
            self.telemetry.in_flight.dec()
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
                variant=label,
                finish_reason=result.finish_reason,
                usage=usage,
            )
        )
        return self._record(
            request,
            result.text,
            started,
            label,
            arm.adapter,
            usage=usage,
            finish=result.finish_reason,
            retrieval=retrieval,
        )

    async def _out_of_scope(
        self,
        request: QueryRequested,
        sink: ReplySink,
        seq: itertools.count[int],
        started: float,
        retrieval: Retrieval,
        label: str,
        *,
        cancelled: bool,
    ) -> QueryCompleted:
        """Answer the fixed out-of-scope message instead of generating one (unless cancelled)."""
        text = "" if cancelled else OUT_OF_SCOPE_ANSWER
        finish: FinishReason = "cancelled" if cancelled else "stop"
        tokens = self.engine.count_tokens(text) if text else 0
        if text:
            await sink.send(
                TokenChunk(query_id=request.query_id, seq=next(seq), text=text, tokens=tokens)
            )
        elapsed_ms = (time.monotonic() - started) * 1000
        usage = Usage(
            prompt_tokens=0,
            completion_tokens=tokens,
            latency_ms=elapsed_ms,
            ttft_ms=elapsed_ms if text else None,
        )
        await sink.send(
            Done(
                query_id=request.query_id,
                seq=next(seq),
                model=self.model_name,
                variant=label,
                finish_reason=finish,
                usage=usage,
            )
        )
        return self._record(
            request, text, started, label, None, usage=usage, finish=finish, retrieval=retrieval
        )

    def _record(
        self,
        request: QueryRequested,
        answer: str,
        started: float,
        label: str,
        adapter: str | None,
        *,
        usage: Usage | None = None,
        finish: str = "error",
        error: str | None = None,
        retrieval: Retrieval | None = None,
    ) -> QueryCompleted:
        record = QueryCompleted(
            query_id=request.query_id,
            user_id=request.user_id,
            tier=request.tier,
            question=request.question,
            answer=answer,
            model=self.model_name,
            variant=label,
            adapter=None if adapter in (None, BASE_ADAPTER) else adapter,
            worker_id=self.worker_id,
            finish_reason=finish,  # type: ignore[arg-type]
            latency_ms=usage.latency_ms if usage else (time.monotonic() - started) * 1000,
            ttft_ms=usage.ttft_ms if usage else None,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            retrieved=[
                RetrievedRef(article_id=p.article_id, score=round(p.score, 4))
                for p in (retrieval.passages if retrieval else [])
            ],
            out_of_scope=retrieval is not None and not retrieval.in_scope,
            error=error,
        )
        self.telemetry.completed(record)
        return record

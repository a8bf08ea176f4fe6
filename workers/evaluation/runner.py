"""Evaluating one model on the benchmark through the prompt path that serving uses.

Each model is loaded exactly as the inference worker loads it (`load_model` with the adapter,
`GenerationEngine`, `InferenceService.prompt_for`), answers greedily, and is released before
the next one loads, so two Gemma copies never sit in memory together.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from data.pipeline import BenchmarkItem, ChatRecord
from schemas.query import QueryRequested
from workers.evaluation.metrics import BertScore, answer_metrics

logger = logging.getLogger(__name__)

QUALITY_METRICS = (
    "rouge1",
    "rougeL",
    "bertscore_f1",
    "exact_match",
    "token_f1",
    "keyword_coverage",
)


@dataclass(frozen=True)
class ModelUnderTest:
    """What to load: a base model and, unless it is the base itself, a PEFT adapter."""

    label: str  # "candidate", "champion" or "base"
    base_model: str
    adapter_dir: Path | None = None
    version: str | None = None

    @property
    def display(self) -> str:
        if self.adapter_dir is None:
            return f"{self.base_model} (base)"
        return f"{self.base_model}+{self.version or self.adapter_dir.name}"


@dataclass(frozen=True)
class EvalConfig:
    """How much to evaluate and how."""

    models_dir: Path
    max_new_tokens: int = 160
    perplexity_records: int = 32
    few_shot: bool = True
    bertscore: bool = True
    bertscore_model: Path | None = None
    bertscore_layers: int = 6
    dtype: str = "float32"


@dataclass
class QuestionResult:
    """One benchmark question answered by one model."""

    id: str
    category: str
    difficulty: str
    question: str
    reference: str
    answer: str
    metrics: dict[str, float]
    latency_s: float
    ttft_s: float
    completion_tokens: int
    tokens_per_s: float
    finish_reason: str

    def row(self) -> dict[str, Any]:
        """A flat row of the per-question table."""
        base = {k: v for k, v in self.__dict__.items() if k != "metrics"}
        return {**base, **self.metrics}


@dataclass
class ModelReport:
    """Everything measured for one model."""

    model: ModelUnderTest
    questions: list[QuestionResult]
    summary: dict[str, float] = field(default_factory=dict)
    per_category: dict[str, dict[str, float]] = field(default_factory=dict)


def select_items(
    items: Sequence[BenchmarkItem], per_category: int | None, *, seed: int = 0
) -> list[BenchmarkItem]:
    """A stratified subset: per_category items of every category (all items when None or 0)."""
    if not per_category:
        return list(items)
    by_category: dict[str, list[BenchmarkItem]] = defaultdict(list)
    for item in sorted(items, key=lambda i: i.id):
        by_category[item.category].append(item)
    rng = random.Random(seed)
    chosen: list[BenchmarkItem] = []
    for category in sorted(by_category):
        pool = by_category[category]
        chosen += rng.sample(pool, min(per_category, len(pool)))
    return chosen


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def _quantile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(questions: Sequence[QuestionResult]) -> dict[str, float]:
    """Means of every quality metric (over the items that have it), plus latency figures."""
    out: dict[str, float] = {}
    for name in QUALITY_METRICS:
        values = [q.metrics[name] for q in questions if name in q.metrics]
        if values:
            out[name] = _mean(values)
    latencies = [q.latency_s for q in questions]
    out["latency_mean_s"] = _mean(latencies)
    out["latency_p95_s"] = _quantile(latencies, 0.95)
    out["ttft_mean_s"] = _mean([q.ttft_s for q in questions])
    out["tokens_per_s"] = _mean([q.tokens_per_s for q in questions if q.tokens_per_s > 0])
    out["completion_tokens_mean"] = _mean([float(q.completion_tokens) for q in questions])
    out["questions"] = float(len(questions))
    return out


def per_category(questions: Sequence[QuestionResult]) -> dict[str, dict[str, float]]:
    """Quality means per benchmark category."""
    groups: dict[str, list[QuestionResult]] = defaultdict(list)
    for q in questions:
        groups[q.category].append(q)
    out: dict[str, dict[str, float]] = {}
    for category in sorted(groups):
        members = groups[category]
        stats = {
            name: _mean([q.metrics[name] for q in members if name in q.metrics])
            for name in QUALITY_METRICS
            if any(name in q.metrics for q in members)
        }
        stats["questions"] = float(len(members))
        out[category] = stats
    return out


class _Encoder:
    """Token ids as the engine builds them: the chat template renders BOS; add it if missing."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        bos = tokenizer.bos_token_id
        self.bos = bos if bos is not None and tokenizer("a").input_ids[:1] == [bos] else None

    def __call__(self, text: str) -> list[int]:
        ids: list[int] = self.tokenizer(text, add_special_tokens=False).input_ids
        return [self.bos, *ids] if self.bos is not None and ids[:1] != [self.bos] else ids


def answer_nll(
    model: Any, encode: Callable[[str], list[int]], prompt: str, answer: str
) -> tuple[float, int]:
    """Summed negative log-likelihood of the answer's tokens after the prompt, and their count."""
    import torch

    prompt_ids, full_ids = encode(prompt), encode(prompt + answer)
    start = len(prompt_ids)
    # A merge across the seam changes the last prompt token: score from the first difference.
    for i, (a, b) in enumerate(zip(prompt_ids, full_ids, strict=False)):
        if a != b:
            start = i
            break
    start = max(start, 1)
    n = len(full_ids) - start
    if n <= 0:
        return 0.0, 0
    with torch.inference_mode():
        # Only the logits that predict answer tokens: the full (seq x 262k) matrix would not fit.
        out = model(input_ids=torch.tensor([full_ids]), logits_to_keep=n + 1, use_cache=False)
        logits = out.logits[0, :-1].float()
        targets = torch.tensor(full_ids[start:])
        nll = torch.nn.functional.cross_entropy(logits, targets, reduction="sum")
    return float(nll), n


class ModelEvaluator:
    """Loads one model as serving does and measures it."""

    def __init__(self, config: EvalConfig, bertscore: BertScore | None = None) -> None:
        self.config = config
        if bertscore is None and config.bertscore:
            bertscore = BertScore(config.bertscore_model, num_layers=config.bertscore_layers)
        self.bertscore = bertscore

    def _service(self, target: ModelUnderTest) -> Any:
        from workers.inference.engine import GenerationEngine
        from workers.inference.models import load_model
        from workers.inference.service import InferenceService

        loaded = load_model(
            target.base_model,
            self.config.models_dir,
            adapter_dir=target.adapter_dir,
            dtype=self.config.dtype,
        )
        return InferenceService(
            engine=GenerationEngine(loaded),
            model_name=loaded.name,
            worker_id=f"evaluation-{target.label}",
            coalesce_s=0.0,
            max_new_tokens_cap=self.config.max_new_tokens,
            few_shot=self.config.few_shot,
        )

    def evaluate(
        self,
        target: ModelUnderTest,
        items: Sequence[BenchmarkItem],
        test_records: Sequence[ChatRecord] = (),
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> ModelReport:
        """Answer every item greedily, score the answers, measure perplexity on test_records."""
        started = time.perf_counter()
        service = self._service(target)
        try:
            questions = [
                self._answer(service, item, index, progress, len(items))
                for index, item in enumerate(items)
            ]
            ppl = self._perplexity(service, test_records)
        finally:
            del service  # the weights go now, before the next model loads
        if self.bertscore is not None and questions:
            scores = self.bertscore.f1(
                [q.answer for q in questions], [q.reference for q in questions]
            )
            for q, score in zip(questions, scores, strict=True):
                q.metrics["bertscore_f1"] = score
        report = ModelReport(target, questions, summarize(questions), per_category(questions))
        if ppl is not None:
            report.summary["perplexity"] = ppl
        logger.info(
            "evaluated %s on %d questions in %.0f s: %s",
            target.display,
            len(questions),
            time.perf_counter() - started,
            {k: round(v, 4) for k, v in report.summary.items()},
        )
        return report

    def _answer(
        self,
        service: Any,
        item: BenchmarkItem,
        index: int,
        progress: Callable[[int, int], None] | None,
        total: int,
    ) -> QuestionResult:
        request = QueryRequested(query_id=f"eval-{index}", question=item.question)
        prompt = service.prompt_for(request)
        result = service.engine.generate(
            prompt, max_new_tokens=self.config.max_new_tokens, temperature=0.0
        )
        answer = result.text.strip()
        if progress is not None:
            progress(index + 1, total)
        return QuestionResult(
            id=item.id,
            category=item.category,
            difficulty=item.difficulty,
            question=item.question,
            reference=item.reference_answer,
            answer=answer,
            metrics=answer_metrics(answer, item.reference_answer, item.keywords),
            latency_s=result.total_s,
            ttft_s=result.ttft_s,
            completion_tokens=result.completion_tokens,
            tokens_per_s=result.tokens_per_s,
            finish_reason=result.finish_reason,
        )

    def _perplexity(self, service: Any, records: Sequence[ChatRecord]) -> float | None:
        """exp(mean NLL per reference-answer token), prompted exactly as serving prompts."""
        records = list(records)[: self.config.perplexity_records]
        if not records:
            return None
        encode = _Encoder(service.engine.loaded.tokenizer)
        model = service.engine.loaded.model
        total, count = 0.0, 0
        for index, record in enumerate(records):
            request = QueryRequested(query_id=f"ppl-{index}", question=record.question)
            nll, n = answer_nll(model, encode, service.prompt_for(request), record.answer)
            total, count = total + nll, count + n
        return math.exp(total / count) if count else None

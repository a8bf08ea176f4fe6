"""Build the dataset: corpus faq + computed exercises -> phrasings -> dedup -> splits."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path

from data.pipeline.augment import phrasings
from data.pipeline.benchmark import read_benchmark
from data.pipeline.corpus import corpus_hash, read_corpus, read_manifest
from data.pipeline.dedup import Dropped, dedup_across_groups, drop_leaks
from data.pipeline.exercise_templates import SPECS
from data.pipeline.exercises import generate_exercises
from data.pipeline.llm import Paraphraser
from data.pipeline.minhash import DEFAULT_THRESHOLD
from data.pipeline.models import Article, BaseQuestion, ChatRecord, InstructionRecord
from data.pipeline.passages import best_passage
from data.pipeline.pii import ScrubReport, scrub_record_texts
from data.pipeline.records import Phrased, faq_bases, to_chat, to_instruction
from data.pipeline.splits import SPLITS, assign_groups

logger = logging.getLogger(__name__)

LLM_EXTRA_PHRASINGS = 2


@dataclass(frozen=True)
class BuildConfig:
    """Inputs and knobs of one build."""

    corpus: Path
    benchmark: Path | None = None
    seed: int = 42
    phrasings: int = 3
    exercises_per_metric: int = 22
    # Exercise numbers already vary, so fewer rewrites keep metricas from dominating.
    exercise_phrasings: int = 2
    threshold: float = DEFAULT_THRESHOLD


@dataclass
class BuildResult:
    """The records of each split plus everything the reports and the card need."""

    config: BuildConfig
    articles: list[Article]
    corpus_hash: str
    chat: dict[str, list[ChatRecord]]
    instruction: dict[str, list[InstructionRecord]]
    missing_articles: list[str] = field(default_factory=list)
    benchmark_count: int = 0
    base_count: int = 0
    dropped_duplicates: list[Dropped] = field(default_factory=list)
    dropped_leaks: list[Dropped] = field(default_factory=list)
    pii: ScrubReport = field(default_factory=ScrubReport)
    llm_used: bool = False


def exercise_bases(
    articles: dict[str, Article], *, seed: int, per_metric: int
) -> list[BaseQuestion]:
    """Generate computed exercises for the metrics whose article is in the corpus."""
    specs = [s for s in SPECS if s.article_id in articles]
    skipped = sorted({s.article_id for s in SPECS} - set(articles))
    if skipped:
        logger.warning("no exercises for missing articles: %s", ", ".join(skipped))
    bases = []
    for ex in generate_exercises(specs, seed=seed, per_metric=per_metric):
        article = articles[ex.article_id]
        bases.append(
            BaseQuestion(
                base_id=ex.base_id,
                group_id=ex.group_id,
                question=ex.question,
                answer=ex.solution.answer,
                question_type="exercise",
                article_id=article.id,
                category=article.category,
                difficulty=article.difficulty,
            )
        )
    return bases


def phrase_all(
    bases: list[BaseQuestion],
    articles: dict[str, Article],
    config: BuildConfig,
    paraphraser: Paraphraser,
    report: ScrubReport,
) -> list[Phrased]:
    """Expand each base question into its phrasings, with a context passage; scrub PII."""
    items: list[Phrased] = []
    for base in bases:
        clean = scrub_record_texts(
            base.base_id, {"question": base.question, "answer": base.answer}, report
        )
        base = base.model_copy(update=clean)
        rng = random.Random(f"{config.seed}:phrasing:{base.base_id}")
        count = config.phrasings
        if base.question_type == "exercise":
            count = min(count, config.exercise_phrasings)
        variants = phrasings(base.question, count, rng)
        seen = {text for _, text in variants}
        for text in paraphraser.paraphrase(base.question, LLM_EXTRA_PHRASINGS):
            if text not in seen:
                seen.add(text)
                variants.append(("llm", text))
        context = best_passage(articles[base.article_id], base.question, base.answer)
        for index, (style, text) in enumerate(variants):
            rid = f"{base.base_id}-p{index}"
            texts = scrub_record_texts(rid, {"question": text, "context": context}, report)
            items.append(Phrased(base, index, style, texts["question"], texts["context"]))
    return items


def _stratum(item: Phrased) -> str:
    kind = "exercise" if item.base.question_type == "exercise" else "faq"
    return f"{item.base.category}/{item.base.difficulty}/{kind}"


def build_dataset(config: BuildConfig, *, paraphraser: Paraphraser | None = None) -> BuildResult:
    """Run the whole pipeline in memory and return the split records and reports."""
    articles = read_corpus(config.corpus)
    by_id = {a.id: a for a in articles}
    missing = sorted(set(read_manifest(config.corpus)) - set(by_id))
    if missing:
        logger.warning("corpus incomplete: %d articles missing from MANIFEST.md", len(missing))
    benchmark = (
        read_benchmark(config.benchmark)
        if config.benchmark is not None and config.benchmark.is_dir()
        else []
    )
    paraphraser = paraphraser or Paraphraser(seed=config.seed)
    bases = [b for a in articles for b in faq_bases(a)]
    bases += exercise_bases(by_id, seed=config.seed, per_metric=config.exercises_per_metric)
    report = ScrubReport()
    items = phrase_all(bases, by_id, config, paraphraser, report)
    items, duplicates = dedup_across_groups(items, threshold=config.threshold)

    groups: dict[str, tuple[str, int]] = {}
    for item in items:
        stratum, count = groups.get(item.base.group_id, (_stratum(item), 0))
        groups[item.base.group_id] = (stratum, count + 1)
    assignment = assign_groups(groups, seed=config.seed)
    by_split = {s: [i for i in items if assignment[i.base.group_id] == s] for s in SPLITS}
    held_out = [(i.record_id, i.question, s) for s in ("val", "test") for i in by_split[s]]
    held_out += [(b.id, b.question, "benchmark") for b in benchmark]
    by_split["train"], leaks = drop_leaks(by_split["train"], held_out, threshold=config.threshold)

    chat = {
        s: [to_chat(i, s) for i in sorted(v, key=lambda i: i.record_id)]
        for s, v in by_split.items()
    }
    instruction = {
        s: [to_instruction(i, s) for i in sorted(v, key=lambda i: i.record_id)]
        for s, v in by_split.items()
    }
    logger.info("built %s records", {s: len(v) for s, v in chat.items()})
    return BuildResult(
        config=config,
        articles=articles,
        corpus_hash=corpus_hash(articles),
        chat=chat,
        instruction=instruction,
        missing_articles=missing,
        benchmark_count=len(benchmark),
        base_count=len(bases),
        dropped_duplicates=duplicates,
        dropped_leaks=leaks,
        pii=report,
        llm_used=any(i.style == "llm" for i in items),
    )

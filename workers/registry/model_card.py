"""The model card of a registered adapter version: what it is, how it measured, how to use it.

Rendered as Markdown, stored with the version in MLflow (the version's description and an
artifact of its evaluation run), and printed by `melancia model card VERSION`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from workers.registry.promotion import TAG_EVAL_RUN, VersionInfo

logger = logging.getLogger(__name__)

CARD_ARTIFACT = "model_card.md"
TAG_CARD = "melancia.model_card"
CARD_MARKER = "<!-- melancia-model-card -->"

BASE_MODEL_NOTES = {
    "gemma3-270m": "Gemma 3 270M base (Google), Gemma Terms of Use; GGUF Q4_K_M dequantized to fp32",
    "smollm2-135m": "SmolLM2-135M-Instruct (Hugging Face), Apache-2.0; English-centric",
    "tiny": "a 1M-parameter test model with meaningless output (machinery tests only)",
}
METRIC_NOTES = {
    "rouge1": "unigram overlap with the reference (Unicode tokens, accents kept)",
    "rougeL": "longest common subsequence with the reference",
    "bertscore_f1": "BERTScore F1, all-MiniLM-L6-v2 backbone (layer 6, no rescaling)",
    "exact_match": "same tokens in the same order as the reference",
    "token_f1": "bag-of-tokens F1 against the reference",
    "keyword_coverage": "share of the item's keywords present (accent-insensitive)",
    "perplexity": "on reference answers of the test split, answer tokens only (lower is better)",
    "latency_mean_s": "mean generation time per answer on the evaluating machine",
    "latency_p95_s": "95th percentile of generation time",
    "ttft_mean_s": "mean time to first token",
    "tokens_per_s": "decode speed",
}


@dataclass(frozen=True)
class CardEvaluation:
    """The evaluation a card reports: this version against its baseline."""

    baseline_label: str
    candidate: Mapping[str, float]
    baseline: Mapping[str, float]
    candidate_by_category: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    baseline_by_category: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    primary_metric: str = "rougeL"
    decision: str | None = None
    reason: str | None = None
    run_id: str | None = None
    subset: str = ""


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.4f}" if abs(value) < 1000 else f"{value:,.0f}"


def _metrics_table(evaluation: CardEvaluation) -> list[str]:
    lines = [
        f"| metric | this version | {evaluation.baseline_label} | change | meaning |",
        "|---|---|---|---|---|",
    ]
    names = [n for n in METRIC_NOTES if n in evaluation.candidate or n in evaluation.baseline]
    for name in names:
        mine, theirs = evaluation.candidate.get(name), evaluation.baseline.get(name)
        change = _fmt(mine - theirs) if mine is not None and theirs is not None else "–"
        if change not in ("–",) and not change.startswith("-"):
            change = "+" + change
        lines.append(
            f"| {name} | {_fmt(mine)} | {_fmt(theirs)} | {change} | {METRIC_NOTES[name]} |"
        )
    return lines


def _category_table(evaluation: CardEvaluation) -> list[str]:
    metric = evaluation.primary_metric
    categories = sorted(
        set(evaluation.candidate_by_category) | set(evaluation.baseline_by_category)
    )
    if not categories:
        return []
    lines = [
        "",
        f"{metric} by category:",
        "",
        f"| category | questions | this version | {evaluation.baseline_label} |",
        "|---|---|---|---|",
    ]
    for category in categories:
        mine = evaluation.candidate_by_category.get(category, {})
        theirs = evaluation.baseline_by_category.get(category, {})
        n = int(mine.get("questions", theirs.get("questions", 0)))
        lines.append(
            f"| {category} | {n} | {_fmt(mine.get(metric))} | {_fmt(theirs.get(metric))} |"
        )
    return lines


def render_card(info: VersionInfo, evaluation: CardEvaluation | None = None) -> str:
    """The card as Markdown."""
    base_note = BASE_MODEL_NOTES.get(info.base_model, info.base_model)
    lines = [
        CARD_MARKER,
        f"# Model card: {info.name} version {info.version}",
        "",
        "| | |",
        "|---|---|",
        f"| base model | `{info.base_model}` — {base_note} |",
        f"| method | {info.method or 'unknown'} (PEFT adapter on the frozen base model) |",
        f"| training data | dataset version `{info.dataset_version or 'unknown'}` (data/DATASET_CARD.md) |",
        f"| training job | {info.job_id or '–'} (MLflow run {info.run_id or '–'}) |",
        f"| adapter | `{info.adapter_uri or '–'}` |",
        f"| aliases | {', '.join(info.aliases) or 'none'} |",
        "",
        "## Evaluation",
        "",
    ]
    if evaluation is None:
        lines.append("Not evaluated yet: `melancia eval --model ...` measures it.")
    else:
        lines += [
            f"Benchmark: data/benchmark ({evaluation.subset or 'subset not recorded'}), greedy "
            f"decoding through the serving prompt path, against {evaluation.baseline_label}.",
            "",
            *_metrics_table(evaluation),
            *_category_table(evaluation),
        ]
        if evaluation.decision:
            lines += ["", f"Gate: **{evaluation.decision}** — {evaluation.reason}"]
        if evaluation.run_id:
            lines += ["", f"Per-question answers and scores: MLflow run `{evaluation.run_id}`."]
    lines += [
        "",
        "## Intended use",
        "",
        "Answering questions in Brazilian Portuguese about Retail Media Ads: ACOS, ROAS, TACoS, "
        "CPC and related metrics, with the formula, the substitution and the result; campaigns, "
        "bids, budgets and keywords on Mercado Livre, Amazon, Shopee and Magalu ads. It serves "
        "behind the MelancIA gateway, which grounds answers in the project's corpus.",
        "",
        "Out of scope: anything outside retail media (it is trained to say so), legal, tax or "
        "financial advice, and current platform policies or prices it was never shown.",
        "",
        "## Limitations",
        "",
        "- A small model: it can get arithmetic wrong or state a formula confidently and "
        "incorrectly; check computed figures before acting on them.",
        "- Knowledge stops at the corpus version above; marketplace rules and fees change.",
        "- ROUGE, F1 and exact match reward wording close to the reference, not correctness; "
        "BERTScore uses an English-centric backbone, so it separates Portuguese answers weakly.",
        "- Scores on a benchmark subset are noisy per category; latency was measured on a "
        "shared CPU and only compares models measured in the same run.",
        "",
        "## Ethical notes",
        "",
        "- Training data is the project's own curated corpus and generated exercises; personal "
        "data was filtered out by the dataset pipeline and no user queries were used.",
        "- Advice about ad spend affects sellers' money: answers are guidance, and the "
        "assistant should not be the only basis for large budget decisions.",
        "- Coverage favours the marketplaces in the corpus; sellers elsewhere get less "
        "specific help.",
        f"- The base model's license applies to this adapter's use: {base_note}.",
        "",
    ]
    return "\n".join(lines)


def evaluation_from_run(client: Any, run_id: str) -> CardEvaluation | None:
    """The evaluation that an evaluation run logged (metrics `candidate.*`, `baseline.*`)."""
    run = client.get_run(run_id)
    metrics, params = run.data.metrics, run.data.params
    candidate = {
        k.removeprefix("candidate."): v for k, v in metrics.items() if k.startswith("candidate.")
    }
    baseline = {
        k.removeprefix("baseline."): v for k, v in metrics.items() if k.startswith("baseline.")
    }
    if not candidate:
        return None

    def by_category(prefix: str) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for key, value in metrics.items():
            if key.startswith(prefix):
                category, _, metric = key.removeprefix(prefix).partition(".")
                out.setdefault(category, {})[metric] = value
        return out

    return CardEvaluation(
        baseline_label=params.get("baseline", "baseline"),
        candidate=candidate,
        baseline=baseline,
        candidate_by_category=by_category("candidate_category."),
        baseline_by_category=by_category("baseline_category."),
        primary_metric=params.get("primary_metric", "rougeL"),
        decision=run.data.tags.get("melancia.decision"),
        reason=run.data.tags.get("melancia.reason"),
        run_id=run_id,
        subset=params.get("subset", ""),
    )


def store_card(client: Any, info: VersionInfo, card: str, *, run_id: str | None) -> None:
    """Keep the card as the version's description and as an artifact of the evaluation run."""
    client.update_model_version(info.name, info.version, description=card)
    if run_id:
        client.log_text(run_id, card, CARD_ARTIFACT)
        client.set_model_version_tag(
            info.name, info.version, TAG_CARD, f"runs:/{run_id}/{CARD_ARTIFACT}"
        )


def card_for(client: Any, info: VersionInfo) -> str:
    """The stored card, or one rendered now from the version's evaluation run (and stored)."""
    if info.description.startswith(CARD_MARKER):
        return info.description
    run_id = info.tags.get(TAG_EVAL_RUN)
    evaluation = evaluation_from_run(client, run_id) if run_id else None
    card = render_card(info, evaluation)
    store_card(client, info, card, run_id=None)
    return card

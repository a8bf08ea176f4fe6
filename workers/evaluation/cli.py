"""`melancia eval` and `melancia model ...`: evaluate on demand, promote, roll back, model cards."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def _settings(args: argparse.Namespace) -> Any:
    from workers.evaluation.settings import EvaluationSettings

    overrides: dict[str, Any] = {}
    for name in ("eval_per_category", "eval_max_new_tokens", "eval_perplexity_records"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    if getattr(args, "full", False):
        overrides["eval_per_category"] = 0
    if getattr(args, "no_bertscore", False):
        overrides["eval_bertscore"] = False
    return EvaluationSettings(**overrides)


def _fmt(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "–"
    return f"{value:.4f}"


def format_comparison(
    names: tuple[str, str],
    summaries: tuple[dict[str, float], dict[str, float]],
    categories: tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]],
    primary: str,
) -> str:
    """The two models side by side, as a Markdown table, then the primary metric per category."""
    keys = [k for k in summaries[0] if k in summaries[1]]
    lines = [f"| metric | {names[0]} | {names[1]} | change |", "|---|---|---|---|"]
    for key in keys:
        a, b = summaries[0][key], summaries[1][key]
        lines.append(f"| {key} | {_fmt(a)} | {_fmt(b)} | {a - b:+.4f} |")
    lines += [
        "",
        f"| category | n | {primary} {names[0]} | {primary} {names[1]} |",
        "|---|---|---|---|",
    ]
    for category in sorted(categories[0]):
        mine, theirs = categories[0][category], categories[1].get(category, {})
        lines.append(
            f"| {category} | {int(mine.get('questions', 0))} | {_fmt(mine.get(primary))} "
            f"| {_fmt(theirs.get(primary))} |"
        )
    return "\n".join(lines)


def _eval(args: argparse.Namespace) -> int:
    from workers.evaluation.app import build_service
    from workers.evaluation.runner import ModelUnderTest
    from workers.registry.promotion import CHAMPION

    settings = _settings(args)
    service = build_service(settings)
    name = args.name or settings.registry_model_name
    if args.version:
        info = service.registry.info(name, args.version)
        candidate = service.target_for(info, "candidate")
    else:
        adapter = Path(args.adapter) if args.adapter else None
        candidate = ModelUnderTest("candidate", args.model, adapter)
    if args.against == "base":
        baseline = ModelUnderTest("base", candidate.base_model)
        label = f"base model {candidate.base_model}"
    elif args.against == CHAMPION:
        champion = service.registry.by_alias(name, CHAMPION)
        if champion is None:
            baseline, label = (
                ModelUnderTest("base", candidate.base_model),
                "base model (no champion)",
            )
        else:
            baseline, label = (
                service.target_for(champion, "champion"),
                f"champion v{champion.version}",
            )
    else:
        baseline = service.target_for(service.registry.info(name, args.against), "baseline")
        label = f"version {args.against}"
    print(f"evaluating {candidate.display} against {label} on {service.subset}", flush=True)
    mine, theirs, verdict = service.compare(candidate, baseline, label)
    table = format_comparison(
        (candidate.display, baseline.display),
        (mine.summary, theirs.summary),
        (mine.per_category, theirs.per_category),
        service.policy.primary_metric,
    )
    print(table)
    print(f"\ngate: {verdict.decision} — {verdict.reason}")
    if not args.no_mlflow:
        from workers.evaluation.tracking import RunRecord, log_evaluation

        run_id = log_evaluation(
            service.client,
            service.experiment_id,
            RunRecord(
                model_name=name,
                version=args.version,
                job_id=None,
                baseline_label=label,
                primary_metric=service.policy.primary_metric,
                decision=verdict.decision,
                reason=verdict.reason,
                params={"subset": service.subset, "on_demand": True},
            ),
            mine,
            theirs,
        )
        print(f"MLflow run {run_id} ({service.tracking_uri})")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "candidate": {
                        "label": candidate.label,
                        "base_model": candidate.base_model,
                        "model": candidate.display,
                        "summary": mine.summary,
                        "per_category": mine.per_category,
                    },
                    "baseline": {
                        "label": baseline.label,
                        "base_model": baseline.base_model,
                        "model": baseline.display,
                        "summary": theirs.summary,
                        "per_category": theirs.per_category,
                    },
                    "subset": service.subset,
                    "baseline_label": label,
                    "primary_metric": service.policy.primary_metric,
                    "gate": {"decision": verdict.decision, "reason": verdict.reason},
                    "questions": [
                        {"model": r.model.label, **q.row()}
                        for r in (mine, theirs)
                        for q in r.questions
                    ],
                },
                ensure_ascii=False,
                indent=1,
            )
        )
    return 0


def _registry(args: argparse.Namespace) -> tuple[Any, str, Any]:
    from workers.evaluation.settings import EvaluationSettings
    from workers.registry import tracking
    from workers.registry.promotion import Registry

    settings = EvaluationSettings()
    client = tracking.client(settings.home, settings.mlflow_uri)
    return Registry(client), args.name or settings.registry_model_name, settings


async def _publish(topic: str, payload: Any, key: str) -> None:
    from events.broker import build_broker
    from events.bus import emit
    from events.settings import BusSettings
    from schemas.envelope import make_event

    broker, _ = build_broker(BusSettings(), service="registry-cli")
    await broker.connect()
    try:
        await emit(broker, topic, make_event(payload, source="melancia-cli"), key=key)
    finally:
        await broker.stop()


def _rollback(args: argparse.Namespace) -> int:
    from events.topics import MODEL_ROLLED_BACK
    from workers.registry.promotion import RegistryError

    registry, name, _ = _registry(args)
    try:
        event = registry.rollback(name, reason=args.reason)
    except RegistryError as exc:
        print(f"cannot roll back: {exc}")
        return 1
    asyncio.run(_publish(MODEL_ROLLED_BACK, event, name))
    print(
        f"{name}: champion rolled back from v{event.from_version} to {event.version}; model.rolled_back published"
    )
    return 0


def _promote(args: argparse.Namespace) -> int:
    from events.topics import MODEL_PROMOTED

    registry, name, _ = _registry(args)
    event = registry.promote(name, args.version, alias=args.alias, reason=args.reason)
    asyncio.run(_publish(MODEL_PROMOTED, event, name))
    print(
        f"{name} v{event.version} is now {event.alias} (was {event.previous_version}); model.promoted published"
    )
    return 0


def _card(args: argparse.Namespace) -> int:
    from workers.registry.model_card import card_for

    registry, name, _ = _registry(args)
    print(card_for(registry.client, registry.info(name, args.version)))
    return 0


def _status(args: argparse.Namespace) -> int:
    from workers.registry.promotion import TAG_GATE, TAG_GATE_REASON

    registry, name, settings = _registry(args)
    from workers.registry import tracking

    where = tracking.tracking_uri(settings.home, settings.mlflow_uri)
    print(f"{name} at {where}; aliases: {registry.aliases(name) or 'none'}")
    for info in registry.versions(name):
        gate = info.tags.get(TAG_GATE, "not evaluated")
        print(
            f"v{info.version}\t{','.join(info.aliases) or '-'}\t{info.base_model}\t{gate}\t"
            f"{info.tags.get(TAG_GATE_REASON, '')[:100]}"
        )
    return 0


def register(subparsers: Any) -> None:
    """Add `melancia eval` and `melancia model rollback|promote|card|status`."""
    p = subparsers.add_parser("eval", help="evaluate a model on the benchmark against a baseline")
    p.add_argument("--model", default="gemma3-270m", help="base model name, path or hub id")
    p.add_argument("--adapter", default=None, help="PEFT adapter directory (default: the base)")
    p.add_argument("--version", default=None, help="a registered version instead of --adapter")
    p.add_argument("--name", default=None, help="registered model name")
    p.add_argument("--against", default="base", help="base, champion, or a registered version")
    p.add_argument("--per-category", dest="eval_per_category", type=int, default=None)
    p.add_argument("--full", action="store_true", help="the whole benchmark")
    p.add_argument("--max-new-tokens", dest="eval_max_new_tokens", type=int, default=None)
    p.add_argument("--perplexity-records", dest="eval_perplexity_records", type=int, default=None)
    p.add_argument("--no-bertscore", action="store_true")
    p.add_argument("--no-mlflow", action="store_true", help="print only, log no run")
    p.add_argument("--json", default=None, help="also write the results (with every answer) here")
    p.set_defaults(func=_eval, service="cli")

    model = subparsers.add_parser(
        "model", help="the adapter registry (MLflow aliases)"
    ).add_subparsers(dest="action", required=True)
    p = model.add_parser("rollback", help="point champion back at the previous version")
    p.add_argument("--name", default=None)
    p.add_argument("--reason", default="manual rollback")
    p.set_defaults(func=_rollback, service="cli")
    p = model.add_parser("promote", help="point an alias at a version and announce it")
    p.add_argument("version")
    p.add_argument("--alias", default="champion", choices=["champion", "challenger"])
    p.add_argument("--name", default=None)
    p.add_argument("--reason", default="manual promotion")
    p.set_defaults(func=_promote, service="cli")
    p = model.add_parser("card", help="print a version's model card")
    p.add_argument("version")
    p.add_argument("--name", default=None)
    p.set_defaults(func=_card, service="cli")
    p = model.add_parser("status", help="aliases and every version with its gate verdict")
    p.add_argument("--name", default=None)
    p.set_defaults(func=_status, service="cli")

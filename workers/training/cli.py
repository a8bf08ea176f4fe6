"""`melancia train`: request a job over the bus and follow it, or train here with --local.

melancia train [--local] [--method lora] [--base-model gemma3-270m] [--set rank=8 ...]
melancia train report [--adapter DIR]     base vs tuned: test eval loss and ROUGE-L
melancia train ship --adapter DIR         copy an adapter (+ report) into data/adapters/
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    """Add `melancia train` and its actions."""
    p = subparsers.add_parser("train", help="fine-tune an adapter (bus job, or --local)")
    p.add_argument("--local", action="store_true", help="train in this process, not via the bus")
    p.add_argument("--base-model", default="gemma3-270m")
    p.add_argument("--method", default="lora", help="lora, qlora, dora, prefix, prompt or ia3")
    p.add_argument("--dataset-version", default=None, help="default: the built dataset")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a hyperparameter of the default recipe (repeatable), e.g. rank=16",
    )
    p.add_argument(
        "--publish",
        action="store_true",
        help="with --local: publish training.completed/failed to the bus (evaluation picks it up)",
    )
    p.add_argument("--job-id", default=None)
    p.add_argument("--idempotency-key", default=None)
    p.add_argument("--timeout", type=float, default=4 * 3600, help="seconds to follow a bus job")
    p.set_defaults(func=_train, service="cli", action=None)
    actions = p.add_subparsers(dest="action")

    r = actions.add_parser("report", help="base vs fine-tuned: test eval loss and ROUGE-L")
    r.add_argument("--adapter", type=Path, default=None, help="default: the shipped adapter")
    r.add_argument("--base-model", default="gemma3-270m")
    r.add_argument("--rouge-items", type=int, default=32, help="test questions generated")
    r.add_argument("--max-new-tokens", type=int, default=160)
    r.add_argument("--loss-items", type=int, default=None, help="test rows for eval loss")
    r.add_argument("--out", type=Path, default=None, help="also write the report as JSON")
    r.set_defaults(func=_report, service="cli")

    s = actions.add_parser("ship", help="copy an adapter into data/adapters/<name>/")
    s.add_argument("--adapter", type=Path, required=True)
    s.add_argument("--name", default=None, help="default: melancia-<base>-<method>")
    s.add_argument("--report", type=Path, default=None, help="report.json to ship with it")
    s.set_defaults(func=_ship, service="cli")


def _request(args: argparse.Namespace) -> Any:
    import uuid

    from schemas.training import DEFAULT_RECIPE, TrainingRequested
    from workers.training.data import available_version

    overrides = dict(_parse_override(item) for item in args.overrides)
    hp = type(DEFAULT_RECIPE).model_validate({**DEFAULT_RECIPE.model_dump(), **overrides})
    job_id = args.job_id or f"ft-{uuid.uuid4().hex[:12]}"
    version = args.dataset_version or available_version()
    if version is None:
        raise SystemExit("no dataset is built; run `melancia dataset build`")
    return TrainingRequested(
        job_id=job_id,
        idempotency_key=args.idempotency_key or job_id,
        base_model=args.base_model,
        dataset_version=version,
        method=args.method,
        hyperparameters=hp,
        requested_by="cli",
    )


def _parse_override(item: str) -> tuple[str, Any]:
    key, sep, value = item.partition("=")
    if not sep:
        raise SystemExit(f"--set takes KEY=VALUE, got {item!r}")
    try:
        return key.strip(), json.loads(value)
    except ValueError:
        return key.strip(), value


def _train(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    try:
        request = _request(args)
    except ValidationError as exc:
        print(f"invalid request: {exc}")
        return 2
    from workers.training.progress_bar import follow_bus, run_local

    print(
        f"job {request.job_id}: {request.method} on {request.base_model}, {request.dataset_version}"
    )
    outcome = run_local(request) if args.local else follow_bus(request, timeout_s=args.timeout)
    print(json.dumps(outcome.model_dump(mode="json"), indent=2, ensure_ascii=False))
    return 0 if outcome.EVENT_TYPE == "training.completed" else 1


def _report(args: argparse.Namespace) -> int:
    from workers.training.report import compare, render
    from workers.training.settings import TrainingSettings
    from workers.training.shipped import ADAPTERS_DIR, DEFAULT_NAME

    adapter = args.adapter or ADAPTERS_DIR / DEFAULT_NAME
    settings = TrainingSettings()
    report = compare(
        args.base_model,
        adapter,
        models_dir=settings.models_dir,
        rouge_items=args.rouge_items,
        loss_items=args.loss_items,
        max_new_tokens=args.max_new_tokens,
    )
    print(render(report))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return 0


def _ship(args: argparse.Namespace) -> int:
    import shutil

    from workers.registry.adapters import read_card
    from workers.training.settings import TrainingSettings
    from workers.training.shipped import REPORT_NAME, ship

    card = read_card(args.adapter)
    if card is None:
        print(f"{args.adapter} has no adapter card; only adapters trained here can be shipped")
        return 2
    if args.report:
        shutil.copy2(args.report, args.adapter / REPORT_NAME)
    name = args.name or f"melancia-{card.base_model}-{card.method}"
    target = ship(args.adapter, name)
    verify_shipped(target, TrainingSettings().models_dir)
    print(f"shipped to {target}")
    return 0


def verify_shipped(adapter_dir: Path, models_dir: Path) -> None:
    """Load the shipped copy as serving will (template checked) and record its probe logits."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from workers.inference.models import ensure_model
    from workers.inference.prompting import CHAT_TEMPLATE
    from workers.registry.adapters import check_template, read_card, write_card
    from workers.training.run import probe_logits

    card = read_card(adapter_dir)
    assert card is not None
    path = ensure_model(card.base_model, models_dir)
    tokenizer = AutoTokenizer.from_pretrained(path)
    check_template(adapter_dir, tokenizer, default_template=CHAT_TEMPLATE)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(path), str(adapter_dir))
    card.probe = probe_logits(model.eval(), tokenizer)
    write_card(adapter_dir, card)

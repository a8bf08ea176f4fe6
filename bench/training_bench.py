"""Training speed: the worker's job path beside a plain transformers.Trainer + PEFT run.

Same model, data, order, batches, hyperparameters and precision. Variants:

- plain   transformers.Trainer(model=get_peft_model(...)), stock causal-LM loss, no callbacks
- ours    run_job (MLflow run, per-step metrics, progress events, checkpoint control) with the
          stock loss path: what the job machinery costs
- recipe  run_job as the default recipe runs it: logits only at labelled positions and the
          shared prompt prefix run once per batch

Rounds alternate the variants so that load from other processes hits them alike; the step
time is the median interval between consecutive steps after the first two.

Usage: python -m bench.training_bench [--model gemma3-270m] [--steps 8] [--rounds 2]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from schemas.training import DEFAULT_RECIPE, Hyperparameters, TrainingRequested
from workers.training.data import available_version, load_job_data
from workers.training.formatting import Collator, encode_records, pad_token_id
from workers.training.job import JobConfig, run_job
from workers.training.methods import Hardware, peft_config, precision
from workers.training.trainer import training_arguments

ROOT = Path(__file__).resolve().parents[1]


def _hp(steps: int, accumulation: int) -> Hyperparameters:
    # No evaluation or checkpoint inside the measured steps (the job evaluates its last step).
    return DEFAULT_RECIPE.model_copy(
        update={
            "max_steps": steps,
            "eval_steps": 10_000,
            "max_duration_s": None,
            "eval_limit": 4,
            "gradient_accumulation": accumulation,
        }
    )


def _intervals(stamps: list[float]) -> float:
    gaps = [b - a for a, b in itertools.pairwise(stamps)][1:]
    return statistics.median(gaps)


def plain(model_name: str, models_dir: Path, steps: int, accumulation: int, out: Path) -> float:
    """Median seconds per step of a stock Trainer + PEFT run."""
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainerCallback

    from workers.inference.models import ensure_model
    from workers.inference.prompting import ensure_chat_template

    hp = _hp(steps, accumulation)
    path = ensure_model(model_name, models_dir)
    tokenizer = ensure_chat_template(AutoTokenizer.from_pretrained(path))
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    model.config.use_cache = False
    model = get_peft_model(model, peft_config("lora", hp, model.config.model_type))
    data = load_job_data(
        str(available_version()), train_limit=None, eval_limit=hp.eval_limit, seed=hp.seed
    )
    train, _ = encode_records(tokenizer, data.train, max_seq_len=hp.max_seq_len)
    stamps: list[float] = []

    class Stamp(TrainerCallback):
        def on_log(self, *args: Any, **kwargs: Any) -> None:
            stamps.append(time.perf_counter())

    hardware = Hardware.detect()
    args = training_arguments(
        hp,
        output_dir=out,
        precision=precision(hp.precision, hardware),
        cuda=hardware.cuda,
        evaluate=False,
    )
    args.save_strategy = "no"
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train,
        data_collator=Collator(pad_token_id(tokenizer)),
        callbacks=[Stamp()],
    )
    trainer.train()
    return _intervals(stamps[:steps])  # one log per step, then the run's summary


def ours(
    model_name: str, models_dir: Path, steps: int, accumulation: int, out: Path, *, recipe: bool
) -> float:
    """Median seconds per step of the worker's job (MLflow, progress, callbacks)."""
    hp = _hp(steps, accumulation).model_copy(update={"share_prompt_prefix": recipe})
    request = TrainingRequested(
        job_id=f"bench-{out.name}",
        idempotency_key=f"bench-{out.name}",
        base_model=model_name,
        dataset_version=str(available_version()),
        hyperparameters=hp,
    )
    config = JobConfig(
        home=out,
        models_dir=models_dir,
        progress_interval_s=0.0,
        system_metrics=True,
        sparse_logits=recipe,
    )
    stamps: list[float] = []
    run_job(request, config, on_progress=lambda p: stamps.append(time.perf_counter()))
    # Progress goes out once per logged step (interval 0), plus phase changes: keep one per step.
    return _intervals(stamps[1 : steps + 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma3-270m")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--accumulation",
        type=int,
        default=DEFAULT_RECIPE.gradient_accumulation,
        help="micro-batches per step",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    models_dir = Path(os.environ.get("MELANCIA_HOME", ROOT / "var")) / "models"
    results: dict[str, list[float]] = {"plain": [], "ours": [], "recipe": []}
    loads: list[float] = []
    with tempfile.TemporaryDirectory() as scratch:
        for r in range(args.rounds):
            for name in results:
                out = Path(scratch) / f"{name}-{r}"
                loads.append(os.getloadavg()[0])
                common = (args.model, models_dir, args.steps, args.accumulation, out)
                if name == "plain":
                    seconds = plain(*common)
                else:
                    seconds = ours(*common, recipe=name == "recipe")
                results[name].append(seconds)
                print(f"round {r + 1} {name:>6}: {seconds:.2f} s/step", flush=True)
    hp = _hp(args.steps, args.accumulation)
    print(
        f"\n{args.model}, LoRA r={hp.rank} on attention+MLP, batch {hp.batch_size} x "
        f"accumulation {hp.gradient_accumulation}, max_seq_len {hp.max_seq_len}, "
        f"precision {precision(hp.precision, Hardware.detect())}, {torch.get_num_threads()} "
        f"threads; {args.rounds} rounds of {args.steps} steps; 1-min load average during the "
        f"runs {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} CPUs\n"
    )
    base = statistics.mean(results["plain"])
    print("| variant | s/step | steps/s | vs plain Trainer |")
    print("|---|---|---|---|")
    for name, values in results.items():
        mean = statistics.mean(values)
        print(f"| {name} | {mean:.2f} | {1 / mean:.4f} | {base / mean - 1:+.1%} steps/s |")


if __name__ == "__main__":
    main()

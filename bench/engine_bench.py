"""Benchmark the generation engine: time to first token and decode speed per model and dtype.

Usage: python -m bench.engine_bench --models gemma3-270m smollm2-135m --dtypes float32 bfloat16

With --adapter DIR each model also runs that adapter unmerged (through PEFT's LoRA layers) and
merged into the weights; the variants take turns run by run, so load from other processes on a
shared CPU hits them alike.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from workers.inference.adapters import BASE_ADAPTER
from workers.inference.engine import GenerationEngine
from workers.inference.models import DTYPES, LoadedModel, load_model
from workers.inference.prompting import apply_chat_template, build_messages, shared_prefix
from workers.inference.results import GenerationResult

# Plain Portuguese prose, repeated and cut to the requested prompt length in tokens.
_FILLER = (
    "O ACOS mostra quanto da receita gerada pelos anúncios foi gasto com mídia. "
    "Uma campanha que investiu R$ 500,00 e vendeu R$ 2.000,00 tem ACOS de 25%. "
    "O ROAS é o inverso: receita dividida pelo investimento, que nesse caso dá 4. "
    "Para reduzir o ACOS sem perder vendas, o vendedor revisa lances, negativa termos "
    "irrelevantes e melhora fotos, título, preço e frete dos anúncios no marketplace. "
)
_QUESTION = "Investi R$ 800,00 em anúncios e vendi R$ 3.200,00. Qual é o meu ACOS?"


def build_prompt(engine: GenerationEngine, tokenizer: object, prompt_tokens: int) -> str:
    """Return Portuguese text that encodes to about prompt_tokens tokens."""
    text = _FILLER
    while engine.count_tokens(text) < prompt_tokens:
        text += _FILLER
    ids = tokenizer(text, add_special_tokens=False).input_ids  # type: ignore[operator]
    return str(tokenizer.decode(ids[: prompt_tokens - 1]))  # type: ignore[attr-defined]


def cpu_stall_us() -> int | None:
    """Return the kernel's cumulative "some" CPU-pressure stall in microseconds (Linux PSI)."""
    try:
        first = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    return int(first.rsplit("total=", 1)[1])


@dataclass(frozen=True)
class Variant:
    """One way of serving a model: an engine and the adapter its requests ask for."""

    label: str
    engine: GenerationEngine
    loaded: LoadedModel
    adapter: str = BASE_ADAPTER


def timed_run(
    variant: Variant, prompt: str, args: argparse.Namespace
) -> tuple[GenerationResult, float]:
    """Generate once, retrying while other processes stalled this one too much (shared CPU)."""
    for _ in range(args.retries + 1):
        before, started = cpu_stall_us(), time.perf_counter()
        result = variant.engine.generate(
            prompt, max_new_tokens=args.new_tokens, adapter=variant.adapter
        )
        after = cpu_stall_us()
        if before is None or after is None:
            return result, float("nan")
        stall = (after - before) / 1e6 / (time.perf_counter() - started)
        if stall <= args.max_stall:
            break
        time.sleep(args.backoff_s)
    return result, stall


def chat_prompt(loaded: LoadedModel) -> tuple[str, str]:
    """Return the served few-shot chat prompt for one question and its shared prefix."""
    messages = build_messages(_QUESTION)
    prompt = apply_chat_template(loaded.tokenizer, messages, add_generation_prompt=True)
    return prompt, shared_prefix(loaded.tokenizer, messages)


def load_variants(args: argparse.Namespace, model: str, dtype: str) -> tuple[list[Variant], float]:
    """Load the base model (and with --adapter, two adapter copies); return them and load time."""
    started = time.perf_counter()
    loaded = load_model(model, args.cache_dir, dtype=dtype)
    load_s = time.perf_counter() - started
    variants = [Variant("base", GenerationEngine(loaded), loaded)]
    if args.adapter is not None:
        for label, merge in (("unmerged", False), ("merged", True)):
            served = load_model(model, args.cache_dir, adapter_dir=args.adapter, dtype=dtype)
            engine = GenerationEngine(served, merge_adapters=merge)
            variants.append(Variant(label, engine, served, engine.default_adapter))
    return variants, load_s


def bench_one(args: argparse.Namespace, model: str, dtype: str) -> list[dict[str, object]]:
    """Load one model in one dtype and time args.runs greedy generations per variant."""
    variants, load_s = load_variants(args, model, dtype)
    base = variants[0]
    if args.prompt == "chat":
        prompt, prefix = chat_prompt(base.loaded)
        if args.prefix_cache:
            for variant in variants:
                variant.engine.cache_prefix(prefix, adapter=variant.adapter)
    else:
        prompt = build_prompt(base.engine, base.loaded.tokenizer, args.prompt_tokens)
    for variant in variants:
        for _ in range(args.warmup):
            variant.engine.generate(prompt, max_new_tokens=8, adapter=variant.adapter)
    runs: dict[str, list[tuple[GenerationResult, float]]] = {v.label: [] for v in variants}
    for _ in range(args.runs):
        for variant in variants:
            runs[variant.label].append(timed_run(variant, prompt, args))
    return [summarize(model, dtype, load_s, label, done) for label, done in runs.items()]


def summarize(
    model: str,
    dtype: str,
    load_s: float,
    label: str,
    runs: list[tuple[GenerationResult, float]],
) -> dict[str, object]:
    """Return the medians of one variant's runs."""
    results = [result for result, _ in runs]
    return {
        "model": model,
        "dtype": dtype,
        "variant": label,
        "load_s": load_s,
        "prompt": results[0].prompt_tokens,
        "cached": results[0].cached_prompt_tokens,
        "new": results[0].completion_tokens,
        "ttft": statistics.median(r.ttft_s for r in results),
        "tps": statistics.median(r.tokens_per_s for r in results),
        "e2e": statistics.median(r.completion_tokens / r.total_s for r in results),
        "stall": statistics.median(stall for _, stall in runs),
        "sample": results[0].text[:60].replace("\n", " "),
    }


def main() -> None:
    """Parse options, run every model × dtype and print one table row per pair."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["gemma3-270m", "smollm2-135m"])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"], choices=DTYPES)
    parser.add_argument(
        "--prompt",
        choices=["filler", "chat"],
        default="filler",
        help="filler: Portuguese prose of --prompt-tokens; chat: the served few-shot prompt",
    )
    parser.add_argument("--prompt-tokens", type=int, default=300)
    parser.add_argument(
        "--prefix-cache", action="store_true", help="with --prompt chat, cache the shared prefix"
    )
    parser.add_argument(
        "--adapter",
        type=Path,
        default=None,
        help="a PEFT adapter dir: also time it unmerged and merged, interleaved with the base",
    )
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache-dir", type=Path, default=Path("var/models"))
    parser.add_argument("--show-text", action="store_true", help="print the start of each answer")
    parser.add_argument(
        "--max-stall",
        type=float,
        default=1.0,
        help="retry a run when CPU pressure (others wanting our cores) exceeded this fraction",
    )
    parser.add_argument("--retries", type=int, default=5)
    parser.add_argument("--backoff-s", type=float, default=5.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)

    header = (
        f"{'model':<14} {'dtype':<9} {'variant':<8} {'load s':>6} {'prompt':>6} {'cached':>6} {'new':>4} "
        f"{'TTFT p50 s':>10} {'decode tok/s p50':>16} {'e2e tok/s p50':>13} {'stall':>5}"
    )
    print(f"prompt={args.prompt} threads={args.threads} runs={args.runs} (greedy)")
    print(header)
    print("-" * len(header), flush=True)
    for model in args.models:
        for dtype in args.dtypes:
            for row in bench_one(args, model, dtype):
                print(
                    f"{row['model']:<14} {row['dtype']:<9} {row['variant']:<8} "
                    f"{row['load_s']:>6.1f} {row['prompt']:>6} {row['cached']:>6} {row['new']:>4} "
                    f"{row['ttft']:>10.3f} {row['tps']:>16.1f} {row['e2e']:>13.1f} "
                    f"{row['stall']:>5.0%}",
                    flush=True,
                )
                if args.show_text:
                    print(f"    {row['sample']!r}", flush=True)


if __name__ == "__main__":
    main()

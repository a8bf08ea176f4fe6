"""PEFT methods: which modules each architecture adapts, the PEFT config, and what needs CUDA."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.training import Hyperparameters, Method

ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP = ("gate_proj", "up_proj", "down_proj")
# LoRA-family targets per `config.model_type`: every attention and MLP projection (the QLoRA
# paper's finding: adapting all linear layers matters more than the rank).
LORA_TARGETS: dict[str, tuple[str, ...]] = {
    "gemma3_text": ATTENTION + MLP,
    "gemma3": ATTENTION + MLP,
    "gemma2": ATTENTION + MLP,
    "gemma": ATTENTION + MLP,
    "llama": ATTENTION + MLP,  # Llama, SmolLM2, the tiny test model
    "mistral": ATTENTION + MLP,
    "qwen2": ATTENTION + MLP,
    "qwen3": ATTENTION + MLP,
}
# IA3 rescales keys, values and the MLP input of the down projection (the IA3 paper's choice).
IA3_TARGETS = ("k_proj", "v_proj", "down_proj")
IA3_FEEDFORWARD = ("down_proj",)
# Methods whose forward keeps the model's sequence positions (no virtual tokens), so the loss
# can ask the model for logits at the labelled positions only.
POSITION_PRESERVING: frozenset[str] = frozenset({"lora", "qlora", "dora", "ia3"})


class MethodUnavailable(ValueError):
    """The method cannot run on this machine or model; the reason says why."""


@dataclass(frozen=True)
class Hardware:
    """What the training process can use."""

    cuda: bool
    bf16: bool  # bf16 arithmetic in hardware: a recent GPU, or a CPU with AVX512-BF16/AMX
    bitsandbytes: bool

    @classmethod
    def detect(cls) -> Hardware:
        import torch

        cuda = torch.cuda.is_available()
        return cls(
            cuda=cuda,
            bf16=torch.cuda.is_bf16_supported() if cuda else _cpu_has_bf16(),
            bitsandbytes=importlib.util.find_spec("bitsandbytes") is not None,
        )


def _cpu_has_bf16() -> bool:
    # PyTorch reports only the vector ISA (AVX512); the bf16 instructions are CPU flags.
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def check_supported(method: Method, hardware: Hardware) -> None:
    """Raise MethodUnavailable with a clear reason instead of silently training something else."""
    if method != "qlora":
        return
    if not hardware.cuda:
        raise MethodUnavailable(
            "QLoRA (4-bit NF4 base weights) needs a CUDA GPU and none is available on this "
            "training worker; on CPU bitsandbytes' 4-bit path stops producing gradients after any "
            "no-grad forward (evaluation), so the job is refused rather than run as plain LoRA. "
            "Ask for method 'lora' (or 'dora') here, or run the job on a GPU worker"
        )
    if not hardware.bitsandbytes:
        raise MethodUnavailable(
            "QLoRA needs the bitsandbytes package on the training worker: "
            "pip install 'melancia[gpu]'"
        )


def precision(requested: str, hardware: Hardware) -> str:
    """fp32, bf16 or fp16 mixed precision; auto picks what the hardware computes natively.

    auto: bf16 where the GPU or CPU has bf16 arithmetic (measured here on an AVX512-BF16 CPU:
    about a quarter faster per step, same loss curve), fp16 on older GPUs, else fp32.
    """
    if requested == "auto":
        if hardware.bf16:
            return "bf16"
        return "fp16" if hardware.cuda else "fp32"
    if requested == "fp16" and not hardware.cuda:
        raise MethodUnavailable("fp16 mixed precision needs a CUDA GPU; use fp32 or bf16 on CPU")
    if requested == "bf16" and hardware.cuda and not hardware.bf16:
        raise MethodUnavailable("this GPU has no bf16 support; use fp16 or auto")
    return requested


def lora_targets(model_type: str, override: list[str] | None) -> list[str]:
    """Modules to adapt: the request's list, else the architecture's, else every linear layer."""
    if override:
        return list(override)
    known = LORA_TARGETS.get(model_type)
    return list(known) if known else ["all-linear"]


def peft_config(method: Method, hp: Hyperparameters, model_type: str) -> Any:
    """The PEFT config of a method with the request's hyperparameters."""
    from peft import (
        IA3Config,
        LoraConfig,
        PrefixTuningConfig,
        PromptTuningConfig,
        PromptTuningInit,
        TaskType,
    )

    if method in ("lora", "qlora", "dora"):
        return LoraConfig(
            r=hp.rank,
            lora_alpha=hp.alpha,
            lora_dropout=hp.dropout,
            target_modules=lora_targets(model_type, hp.target_modules),
            use_dora=method == "dora",
            bias="none",
            task_type=TaskType.CAUSAL_LM,
        )
    if method == "ia3":
        targets = list(hp.target_modules or IA3_TARGETS)
        return IA3Config(
            target_modules=targets,
            feedforward_modules=[m for m in IA3_FEEDFORWARD if m in targets],
            task_type=TaskType.CAUSAL_LM,
        )
    if method == "prefix":
        return PrefixTuningConfig(
            num_virtual_tokens=hp.num_virtual_tokens, task_type=TaskType.CAUSAL_LM
        )
    if method == "prompt":
        return PromptTuningConfig(
            num_virtual_tokens=hp.num_virtual_tokens,
            prompt_tuning_init=PromptTuningInit.RANDOM,
            task_type=TaskType.CAUSAL_LM,
        )
    raise MethodUnavailable(f"unknown method {method!r}")


def quantization_config() -> Any:
    """4-bit NF4 with double quantization and bf16 compute: the QLoRA recipe."""
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16,
    )

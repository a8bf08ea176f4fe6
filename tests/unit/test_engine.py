"""GenerationEngine on the 1M-parameter tiny model: decoding, streaming and cancellation."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from unittest.mock import patch

import pytest
import torch

from workers.inference.decoding import IncrementalDecoder
from workers.inference.engine import GenerationEngine, PromptTooLong
from workers.inference.models import LoadedModel, load_model
from workers.inference.prompting import apply_chat_template, build_messages, shared_prefix

CACHE_DIR = Path(__file__).resolve().parents[2] / "var" / "models"
PROMPT = "<start_of_turn>user\nO que é ACOS?<end_of_turn>\n<start_of_turn>model\n"


@pytest.fixture(scope="session")
def tiny() -> LoadedModel:
    """Return the tiny model, converted once into the repo's shared cache."""
    return load_model("tiny", CACHE_DIR)


@pytest.fixture(scope="session")
def engine(tiny: LoadedModel) -> GenerationEngine:
    """Return an engine that allows a few concurrent generations."""
    return GenerationEngine(tiny, max_concurrency=4)


def test_streamed_deltas_concatenate_to_the_non_streamed_text(engine) -> None:
    expected = engine.generate(PROMPT, max_new_tokens=48)

    with engine.generate_stream(PROMPT, max_new_tokens=48) as stream:
        deltas = list(stream)

    assert "".join(d.text for d in deltas) == expected.text
    assert stream.result is not None and stream.result.text == expected.text
    assert sum(d.token_count for d in deltas) == expected.completion_tokens == 48
    assert expected.finish_reason == "length"
    assert expected.prompt_tokens == engine.count_tokens(PROMPT)
    assert expected.ttft_s > 0 and expected.total_s >= expected.ttft_s


def test_should_stop_ends_generation_early(engine) -> None:
    seen: list[str] = []

    with engine.generate_stream(
        PROMPT, max_new_tokens=200, should_stop=lambda: len(seen) >= 3
    ) as stream:
        for delta in stream:
            seen.append(delta.text)

    assert stream.result is not None
    assert stream.result.finish_reason == "cancelled"
    assert stream.result.completion_tokens < 200
    assert stream.result.text == "".join(seen)


def test_a_stop_token_ends_generation(tiny) -> None:
    everything_stops = GenerationEngine(
        tiny, extra_stop_token_ids=range(tiny.model.config.vocab_size)
    )

    result = everything_stops.generate(PROMPT, max_new_tokens=10)

    assert (result.finish_reason, result.completion_tokens, result.text) == ("stop", 0, "")


def test_a_cached_prefix_is_reused_with_the_same_output(tiny) -> None:
    engine = GenerationEngine(tiny)
    messages = build_messages("Como reduzir o ACOS?")
    prompt = apply_chat_template(tiny.tokenizer, messages, add_generation_prompt=True)
    expected = engine.generate(prompt, max_new_tokens=32)
    assert engine.uncached_tokens(prompt) == expected.prompt_tokens

    cached = engine.cache_prefix(shared_prefix(tiny.tokenizer, messages))
    result = engine.generate(prompt, max_new_tokens=32)

    assert engine.uncached_tokens(prompt) == result.prompt_tokens - cached  # what is prefilled
    assert expected.cached_prompt_tokens == 0
    assert 0 < cached == result.cached_prompt_tokens < result.prompt_tokens
    assert result.text == expected.text
    assert result.prompt_tokens == expected.prompt_tokens


def test_seeded_sampling_is_reproducible(engine) -> None:
    def sample(seed: int) -> str:
        return engine.generate(
            PROMPT, max_new_tokens=32, temperature=0.9, top_p=0.95, seed=seed
        ).text

    assert sample(7) == sample(7)
    assert sample(7) != sample(8)


def test_prompt_that_fills_the_context_is_rejected_before_streaming(engine) -> None:
    with pytest.raises(PromptTooLong):
        engine.generate_stream("palavra " * engine.context_length, max_new_tokens=4)


def test_concurrent_threads_match_sequential_results(engine) -> None:
    prompts = [f"{PROMPT}{i}" for i in range(6)]
    sequential = [engine.generate(p, max_new_tokens=40).text for p in prompts]

    with ThreadPoolExecutor(max_workers=6) as pool:
        concurrent = list(pool.map(lambda p: engine.generate(p, max_new_tokens=40).text, prompts))

    assert concurrent == sequential


def test_incremental_decoder_never_emits_broken_characters(tiny) -> None:
    tokenizer = tiny.tokenizer
    text = "Ação rápida: ROAS 4,5× — 🍉 melancia!"
    ids = tokenizer(text, add_special_tokens=False).input_ids
    decoder = IncrementalDecoder(
        lambda i: tokenizer.decode(i, skip_special_tokens=True, clean_up_tokenization_spaces=False)
    )

    pieces = [decoder.push(ids[: n + 1]) for n in range(len(ids))]
    pieces.append(decoder.flush(ids))

    assert "".join(pieces) == text
    assert not any("\ufffd" in piece for piece in pieces)


async def test_astream_yields_the_same_text_without_blocking_the_loop(engine) -> None:
    expected = engine.generate(PROMPT, max_new_tokens=64).text
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    stream = engine.astream(PROMPT, max_new_tokens=64)
    text = "".join([delta.text async for delta in stream])
    ticking.cancel()

    assert text == expected
    assert stream.result is not None and stream.result.text == expected
    assert ticks > 0


async def test_cancelling_the_consumer_stops_the_thread(engine) -> None:
    stream = engine.astream(PROMPT, max_new_tokens=1500)
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in stream:
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), timeout=10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert await stream.wait_finished(timeout=10)
    assert stream.result is not None
    assert stream.result.finish_reason == "cancelled"
    assert stream.result.completion_tokens < 1500


async def test_setting_the_cancel_event_stops_the_thread(engine) -> None:
    cancel = threading.Event()
    stream = engine.astream(PROMPT, max_new_tokens=1500, cancel_event=cancel)

    async for _ in stream:
        cancel.set()

    assert stream.result is not None
    assert stream.result.finish_reason == "cancelled"
    assert stream.result.completion_tokens < 1500


async def test_closing_an_unstarted_stream_runs_nothing(engine) -> None:
    stream = engine.astream(PROMPT, max_new_tokens=8)

    await stream.aclose()

    assert stream.finished.is_set()
    assert [d async for d in stream] == []


def test_ensure_prefix_prefills_once_per_prefix(tiny) -> None:
    engine = GenerationEngine(tiny)
    prefix = shared_prefix(tiny.tokenizer, build_messages("Como reduzir o ACOS?"))

    first = engine.ensure_prefix(prefix)
    with patch.object(engine, "cache_prefix", side_effect=AssertionError("prefilled twice")):
        again = engine.ensure_prefix(prefix)

    assert first == again > 0


def test_the_output_projection_gets_a_dense_input(tiny) -> None:
    seen: list[tuple[int, ...]] = []
    head = tiny.model.get_output_embeddings()
    handle = head.register_forward_pre_hook(lambda _m, args: seen.append(args[0].stride()))
    hidden = torch.randn(1, 5, head.in_features)
    try:
        head(hidden[:, -1:, :])  # what logits_to_keep=1 hands it: a strided view
    finally:
        handle.remove()

    assert seen == [(head.in_features, head.in_features, 1)]

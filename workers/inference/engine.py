"""Token-by-token generation with a KV cache, cancellation, streaming and adapters."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator, Iterable
from pathlib import Path

import torch

from workers.inference.adapters import BASE_ADAPTER, AdapterGate
from workers.inference.async_stream import AsyncGenerationStream
from workers.inference.decoding import IncrementalDecoder, TokenSampler, stop_token_ids
from workers.inference.kvcache import cache_argument, output_cache
from workers.inference.merged import MergedWeights
from workers.inference.models import LoadedModel
from workers.inference.prefix_cache import PrefixCache
from workers.inference.results import Delta, FinishReason, GenerationResult, GenerationStream

logger = logging.getLogger(__name__)

_POLL_S = 0.05


class PromptTooLong(ValueError):
    """The prompt leaves no room for new tokens in the model's context."""


def _never() -> bool:
    return False


class GenerationEngine:
    """Serves one loaded model: many concurrent generations, each with its own KV cache.

    Thread safety: weights are read-only while generations run and every generation owns its
    cache, sampler and decoder, so threads may generate concurrently (up to max_concurrency).
    The active adapter is model-global (PEFT state, merged weights), so generations asking for different adapters are serialized by
    an AdapterGate; loading or unloading an adapter waits until no generation runs. The gate
    lives in the engine, so give each model object a single engine.

    Merged serving (merge_adapters, the default): activating a plain LoRA adapter writes its
    delta into the base linear weights from a pristine copy (see MergedWeights) and disables
    the LoRA layers, so decoding runs at the base model's speed and switching adapters any
    number of times leaves no drift. An adapter is merged when its PEFT config is LoRA without
    DoRA, trained biases, modules_to_save, layer replication, trainable tokens, target
    parameters or aLoRA, and every layer it adapts is an untied float nn.Linear. Anything else
    (DoRA, IA3, prompt or prefix tuning, quantized bases) runs unmerged through PEFT's layers.
    """

    def __init__(
        self,
        loaded: LoadedModel,
        *,
        max_concurrency: int = 1,
        extra_stop_token_ids: Iterable[int] = (),
        merge_adapters: bool = True,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        self.loaded = loaded
        self.name = loaded.name
        self._model = loaded.model
        self._tokenizer = loaded.tokenizer
        self._slots = threading.Semaphore(max_concurrency)
        # Fast tokenizers raise "Already borrowed" when one object is used by two threads at once.
        self._tokenizer_lock = threading.Lock()
        self._stop_ids = stop_token_ids(
            self._tokenizer, self._model.config, getattr(self._model, "generation_config", None)
        ) | frozenset(extra_stop_token_ids)
        bos = self._tokenizer.bos_token_id
        adds_bos = bos is not None and self._tokenizer("a").input_ids[:1] == [bos]
        self._bos: int | None = bos if adds_bos else None
        self.default_adapter = loaded.adapter or BASE_ADAPTER
        self._merge = merge_adapters
        if loaded.merged is not None and not merge_adapters:
            loaded.merged.restore()
            loaded.merged = None
        if merge_adapters and loaded.merged is None:
            # Only MergedWeights merges, so without one the weights are still pristine.
            for name in self.adapters:
                self._merged_weights().add(self._model, name)
        if self.adapters:
            # PEFT state may have been left anywhere by earlier users of this model object.
            self._activate(self.default_adapter)
        self._gate = AdapterGate(self._activate, active=self.default_adapter)
        self._prefixes = PrefixCache()
        # Looked up once: adapters wrap the model, but the base model's forward stays the same.
        self._cache_argument = cache_argument(self._model)

    @property
    def context_length(self) -> int:
        """Return the maximum number of positions (prompt plus completion)."""
        return int(self._model.config.max_position_embeddings)

    @property
    def adapters(self) -> list[str]:
        """Return the names of the resident adapters."""
        return sorted(getattr(self._model, "peft_config", {}))

    def count_tokens(self, text: str) -> int:
        """Return how many prompt tokens text becomes (BOS included when the model wants it)."""
        return len(self._encode(text))

    def uncached_tokens(self, prompt: str, *, adapter: str | None = None) -> int:
        """How many of the prompt's tokens a generation would prefill (the rest are cached)."""
        ids = self._encode(prompt)
        return len(ids) - self._prefixes.covered(self._resolve_adapter(adapter), ids)

    def generate_stream(
        self,
        prompt: str,
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        should_stop: Callable[[], bool] = _never,
        adapter: str | None = None,
    ) -> GenerationStream:
        """Validate now, then stream Deltas lazily; the stream's `result` is set at the end."""
        if max_new_tokens < 1:
            raise ValueError("max_new_tokens must be >= 1")
        sampler = TokenSampler(temperature=temperature, top_p=top_p, seed=seed)
        chosen = self._resolve_adapter(adapter)
        prompt_ids = self._encode(prompt)
        room = self.context_length - len(prompt_ids)
        if room < 1:
            raise PromptTooLong(
                f"prompt has {len(prompt_ids)} tokens; the context holds {self.context_length}"
            )
        steps = self._steps(prompt_ids, min(max_new_tokens, room), sampler, should_stop, chosen)
        return GenerationStream(steps)

    def generate(
        self,
        prompt: str,
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        should_stop: Callable[[], bool] = _never,
        adapter: str | None = None,
    ) -> GenerationResult:
        """Generate without streaming and return the final result."""
        with self.generate_stream(
            prompt,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
            should_stop=should_stop,
            adapter=adapter,
        ) as stream:
            for _ in stream:
                pass
        assert stream.result is not None
        return stream.result

    def astream(
        self,
        prompt: str,
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        should_stop: Callable[[], bool] = _never,
        adapter: str | None = None,
        cancel_event: threading.Event | None = None,
    ) -> AsyncGenerationStream:
        """Validate now and return an async stream of Deltas generated in a worker thread."""
        # The stream's own event is set on aclose/cancel/garbage collection; the caller's
        # cancel_event is only ever read, never set by us.
        stop = threading.Event()

        def stopped() -> bool:
            cancelled = cancel_event is not None and cancel_event.is_set()
            return cancelled or stop.is_set() or should_stop()

        stream = self.generate_stream(
            prompt,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
            should_stop=stopped,
            adapter=adapter,
        )
        return AsyncGenerationStream(stream, stop)

    def cache_prefix(self, prefix: str, *, adapter: str | None = None) -> int:
        """Prefill a prompt prefix shared by many requests once; return its token count.

        Later prompts whose tokens start with the prefix's tokens (and use the same adapter)
        only prefill the rest, which cuts time to first token for few-shot prompts.
        """
        chosen = self._resolve_adapter(adapter)
        ids = self._encode(prefix)
        self._acquire_slot(_never)
        try:
            with self._gate.use(chosen, _never), torch.inference_mode():
                out = self._model(input_ids=torch.tensor([ids]), use_cache=True, logits_to_keep=1)
                # Stored while the gate still holds these weights: a swap clears after this.
                self._prefixes.put(chosen, ids, output_cache(out))
        finally:
            self._slots.release()
        logger.info("cached a %d-token prefix for adapter %s on %s", len(ids), chosen, self.name)
        return len(ids)

    def ensure_prefix(self, prefix: str, *, adapter: str | None = None) -> int:
        """cache_prefix unless that very prefix is cached for the adapter; return its tokens."""
        ids = self._encode(prefix)
        if self._prefixes.holds(self._resolve_adapter(adapter), ids):
            return len(ids)
        return self.cache_prefix(prefix, adapter=adapter)

    def set_default_adapter(self, name: str | None) -> None:
        """Choose the adapter (None: the base model) for requests that name none."""
        chosen = self._resolve_adapter(name or BASE_ADAPTER)
        self.default_adapter = chosen
        # LoadedModel.adapter is what callers report as "the adapter being served".
        self.loaded.adapter = None if chosen == BASE_ADAPTER else chosen
        logger.info("default adapter on %s is now %s", self.name, chosen)

    def load_adapter(self, name: str, adapter_dir: Path, *, make_default: bool = False) -> None:
        """Make a PEFT adapter resident under name; waits until no generation runs.

        Hot swap: load the new version under a new name with make_default=True, then
        unload_adapter the old one once its in-flight generations are done.
        """
        from peft import PeftModel

        with self._gate.exclusive():
            # Cached prefixes were computed with the old weights (a name may be reloaded).
            self._prefixes.clear()
            merged = self.loaded.merged
            if merged is not None:
                # Pristine weights while PEFT wraps new layers and MergedWeights copies them.
                merged.restore()
            try:
                if isinstance(self._model, PeftModel):
                    self._model.load_adapter(
                        str(adapter_dir), adapter_name=name, is_trainable=False
                    )
                else:
                    self._model = PeftModel.from_pretrained(
                        self._model, str(adapter_dir), adapter_name=name, is_trainable=False
                    )
                    self._model.eval()
                    self.loaded.model = self._model
            except BaseException:
                if merged is not None:
                    # Merge back what the gate still says is active.
                    self._activate(self._gate.active)
                raise
            if self._merge:
                self._merged_weights().add(self._model, name)
            # Newly wrapped layers start enabled: re-assert what the gate says is active.
            self._activate(self._gate.active)
        logger.info("adapter %s loaded from %s on %s", name, adapter_dir, self.name)
        if make_default:
            self.set_default_adapter(name)

    def unload_adapter(self, name: str) -> None:
        """Drop a resident adapter; generations then fall back to the base model by default."""
        with self._gate.exclusive():
            if name not in self.adapters:
                raise KeyError(f"adapter {name!r} is not loaded")
            self._prefixes.clear()
            if self._gate.active == name:
                self._gate.mark_active(BASE_ADAPTER)
            merged = self.loaded.merged
            if self.adapters == [name]:
                if merged is not None:
                    merged.restore()
                    self.loaded.merged = None
                # A PeftModel left without adapters cannot run: strip the LoRA layers instead.
                self._model = self._model.unload()
                self.loaded.model = self._model
            else:
                if merged is not None:
                    merged.forget(name)
                self._model.delete_adapter(name)
                # PEFT picks another active adapter when the active one is deleted.
                self._activate(self._gate.active)
        if self.default_adapter == name:
            self.set_default_adapter(None)
        logger.info("adapter %s unloaded from %s", name, self.name)

    def _resolve_adapter(self, adapter: str | None) -> str:
        chosen = adapter or self.default_adapter
        if chosen != BASE_ADAPTER and chosen not in self.adapters:
            raise KeyError(f"adapter {chosen!r} is not loaded; resident: {self.adapters}")
        return chosen

    def _merged_weights(self) -> MergedWeights:
        if self.loaded.merged is None:
            self.loaded.merged = MergedWeights()
        return self.loaded.merged

    def _activate(self, adapter: str) -> None:
        # Called by the gate with no generation running, so mutating weights is safe here.
        merged = self.loaded.merged
        fold = merged is not None and merged.mergeable(adapter)
        if merged is not None:
            merged.merge(adapter if fold else None)
        if adapter != BASE_ADAPTER:
            self._model.set_adapter(adapter, inference_mode=True)
        if adapter == BASE_ADAPTER or fold:
            # A merged adapter is in the base weights already: the LoRA layers must not add it.
            self._model.base_model.disable_adapter_layers()
        else:
            self._model.base_model.enable_adapter_layers()
        logger.debug("active adapter on %s is now %s (merged: %s)", self.name, adapter, fold)

    def _encode(self, text: str) -> list[int]:
        if not text:
            raise ValueError("prompt must not be empty")
        # Chat templates already render the BOS token; add it only when it is missing.
        with self._tokenizer_lock:
            ids: list[int] = self._tokenizer(text, add_special_tokens=False).input_ids
        if self._bos is not None and ids[:1] != [self._bos]:
            ids = [self._bos, *ids]
        return ids

    def _decode(self, ids: list[int]) -> str:
        with self._tokenizer_lock:
            text: str = self._tokenizer.decode(
                ids, skip_special_tokens=True, clean_up_tokenization_spaces=False
            )
        return text

    def _acquire_slot(self, should_stop: Callable[[], bool]) -> bool:
        while not self._slots.acquire(timeout=_POLL_S):
            if should_stop():
                return False
        return True

    def _steps(
        self,
        prompt_ids: list[int],
        max_new_tokens: int,
        sampler: TokenSampler,
        should_stop: Callable[[], bool],
        adapter: str,
    ) -> Generator[Delta, None, GenerationResult]:
        queued_at = time.perf_counter()
        if not self._acquire_slot(should_stop):
            return self._cancelled_early(prompt_ids, adapter, queued_at)
        try:
            with self._gate.use(adapter, should_stop) as entered:
                if not entered:
                    return self._cancelled_early(prompt_ids, adapter, queued_at)
                return (
                    yield from self._decode_loop(
                        prompt_ids, max_new_tokens, sampler, should_stop, adapter, queued_at
                    )
                )
        finally:
            self._slots.release()

    def _decode_loop(
        self,
        prompt_ids: list[int],
        max_new_tokens: int,
        sampler: TokenSampler,
        should_stop: Callable[[], bool],
        adapter: str,
        queued_at: float,
    ) -> Generator[Delta, None, GenerationResult]:
        started = time.perf_counter()
        decoder = IncrementalDecoder(self._decode)
        generated: list[int] = []
        pending = 0  # generated tokens not yet covered by an emitted delta
        steps = 0
        first_at = last_at = started
        finish: FinishReason = "length"
        hit = self._prefixes.lookup(adapter, prompt_ids)
        cache = hit.cache if hit else None
        inputs = torch.tensor([prompt_ids[hit.length if hit else 0 :]], dtype=torch.long)
        while steps < max_new_tokens:
            if should_stop():
                finish = "cancelled"
                break
            # Inference mode is entered per step, never across a yield, so it cannot leak
            # into the consumer's code running on this thread between tokens.
            with torch.inference_mode():
                # logits_to_keep=1: only the last position is sampled, which spares the
                # prompt-wide projection onto the (262k-token for Gemma) vocabulary.
                out = self._model(
                    input_ids=inputs,
                    use_cache=True,
                    logits_to_keep=1,
                    **{self._cache_argument: cache},
                )
                cache = output_cache(out)
                token = sampler(out.logits[0, -1])
            steps += 1
            last_at = time.perf_counter()
            if steps == 1:
                first_at = last_at
            if token in self._stop_ids:
                finish = "stop"
                break
            generated.append(token)
            pending += 1
            text = decoder.push(generated)
            if text:
                yield Delta(text, pending)
                pending = 0
            inputs = torch.tensor([[token]], dtype=torch.long)
        tail = decoder.flush(generated)
        if tail or pending:
            # May carry no text (tokens of a character cut off by the limit): it keeps
            # sum(delta.token_count) == completion_tokens for whoever counts tokens.
            yield Delta(tail, pending)
        decode_s = last_at - first_at
        return GenerationResult(
            text=decoder.text,
            prompt_tokens=len(prompt_ids),
            completion_tokens=len(generated),
            finish_reason=finish,
            ttft_s=first_at - started if steps else 0.0,
            total_s=time.perf_counter() - started,
            tokens_per_s=(steps - 1) / decode_s if steps > 1 and decode_s > 0 else 0.0,
            queued_s=started - queued_at,
            adapter=None if adapter == BASE_ADAPTER else adapter,
            cached_prompt_tokens=hit.length if hit else 0,
        )

    def _cancelled_early(
        self, prompt_ids: list[int], adapter: str, queued_at: float
    ) -> GenerationResult:
        return GenerationResult(
            text="",
            prompt_tokens=len(prompt_ids),
            completion_tokens=0,
            finish_reason="cancelled",
            ttft_s=0.0,
            total_s=0.0,
            queued_s=time.perf_counter() - queued_at,
            adapter=None if adapter == BASE_ADAPTER else adapter,
        )

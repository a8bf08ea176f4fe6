"""KV caches of fixed prompt prefixes (system prompt, few-shot) reused across requests."""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True, slots=True)
class PrefixHit:
    """A private copy of a cached prefix's KV state and how many prompt tokens it covers."""

    length: int
    cache: Any


class PrefixCache:
    """Maps (adapter, prefix token ids) to the KV cache after prefilling that prefix.

    Entries are per adapter because LoRA changes the keys and values. Stored caches are never
    handed out: every hit gets a deep copy, since generation appends to the cache it is given.
    """

    def __init__(self, max_entries: int = 4) -> None:
        self._max_entries = max_entries
        self._entries: OrderedDict[tuple[str, tuple[int, ...]], Any] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, adapter: str, token_ids: list[int], cache: Any) -> None:
        """Keep cache as the state after token_ids, evicting the least recently used entry."""
        with self._lock:
            self._entries[(adapter, tuple(token_ids))] = cache
            self._entries.move_to_end((adapter, tuple(token_ids)))
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def holds(self, adapter: str, token_ids: list[int]) -> bool:
        """Return whether exactly this prefix is cached for adapter."""
        with self._lock:
            return (adapter, tuple(token_ids)) in self._entries

    def covered(self, adapter: str, prompt_ids: list[int]) -> int:
        """How many of prompt_ids a lookup would take from the cache (0: none)."""
        with self._lock:
            best = self._longest(adapter, prompt_ids)
        return len(best[1]) if best else 0

    def lookup(self, adapter: str, prompt_ids: list[int]) -> PrefixHit | None:
        """Return a copy of the longest cached strict prefix of prompt_ids, if any."""
        with self._lock:
            best = self._longest(adapter, prompt_ids)
            if best is None:
                return None
            self._entries.move_to_end(best)
            stored = self._entries[best]
        with torch.inference_mode():
            return PrefixHit(len(best[1]), copy.deepcopy(stored))

    def _longest(self, adapter: str, prompt_ids: list[int]) -> tuple[str, tuple[int, ...]] | None:
        # Strict prefixes only: at least one prompt token must remain to produce logits.
        matches = [
            key
            for key in self._entries
            if key[0] == adapter
            and len(key[1]) < len(prompt_ids)
            and _starts_with(prompt_ids, key[1])
        ]
        return max(matches, key=lambda key: len(key[1])) if matches else None

    def clear(self) -> None:
        """Forget every prefix, e.g. after the adapter weights behind them changed."""
        with self._lock:
            self._entries.clear()


def _starts_with(prompt_ids: list[int], prefix: tuple[int, ...]) -> bool:
    return tuple(prompt_ids[: len(prefix)]) == prefix

"""The KV cache argument follows the installed transformers' forward signature."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from workers.inference.kvcache import cache_argument, output_cache


class Renamed:
    def forward(self, input_ids: Any = None, cache: Any = None, **kwargs: Any) -> None: ...


class Older:
    def forward(
        self, input_ids: Any = None, past_key_values: Any = None, **kwargs: Any
    ) -> None: ...


class Wrapper:
    """A PEFT-like wrapper whose own forward takes **kwargs only."""

    def __init__(self, base: Any) -> None:
        self.base = base

    def get_base_model(self) -> Any:
        return self.base

    def forward(self, **kwargs: Any) -> None: ...


def test_the_argument_is_named_after_the_base_model_forward() -> None:
    assert cache_argument(Renamed()) == "cache"
    assert cache_argument(Older()) == "past_key_values"
    assert cache_argument(Wrapper(Renamed())) == "cache"


def test_the_returned_cache_is_read_under_either_name() -> None:
    assert output_cache(SimpleNamespace(cache="new", past_key_values=None)) == "new"
    assert output_cache(SimpleNamespace(past_key_values="old")) == "old"

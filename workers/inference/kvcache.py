"""The KV cache in and out of a transformers causal LM, across the `past_key_values` rename.

transformers 5.24 renamed the forward argument and the output field to `cache` (the old name
still works, with a FutureWarning); earlier 5.x releases know only `past_key_values`.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any


@functools.cache
def _argument(forward: Any) -> str:
    parameters = inspect.signature(forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def cache_argument(model: Any) -> str:
    """The name of the keyword that hands a KV cache to model's forward (PEFT wrappers included)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return _argument(type(base).forward)


def output_cache(outputs: Any) -> Any:
    """The KV cache a forward returned."""
    found = getattr(outputs, "cache", None)
    return found if found is not None else outputs.past_key_values

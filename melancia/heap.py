"""The cyclic garbage collector in the processes that serve answers.

A full collection walks every object the collector tracks, holding the GIL: with a model, its
tokenizer and the index loaded that is ~0.56 M objects and 0.35–0.6 s (measured), which every
thread of the process waits out, a generation between two of its steps included. What is
loaded at start lives as long as the process, so once loaded it is frozen (`gc.freeze`): later
collections walk only what serving allocated since. While it loads, the heap only grows, and
each full collection on the way walks all that was loaded so far (loading the inference
worker's model and index ran 13 of them: 7.4–7.7 s, 5.3–5.5 s with the collector held off),
so it is held off until the load is done (`loading`).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import time
from collections.abc import Iterator

logger = logging.getLogger(__name__)


def freeze_loaded() -> None:
    """Collect once, then keep every surviving object out of later collections."""
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    logger.debug(
        "froze %d loaded objects in %.0f ms",
        gc.get_freeze_count(),
        (time.perf_counter() - started) * 1000,
    )


@contextlib.contextmanager
def loading() -> Iterator[None]:
    """No collection while the block loads what the process keeps; then freeze it (even when
    the load failed: the collector is never left off)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        freeze_loaded()
        if enabled:
            gc.enable()


def refreeze() -> None:
    """After something loaded was replaced (a model swap): give the frozen objects back to the
    collector, so that what was let go is freed even where it holds reference cycles, then
    freeze what remains."""
    gc.unfreeze()
    freeze_loaded()


def thaw() -> None:
    """At shutdown: give the frozen objects back, so that the interpreter's last collection
    frees them (extension modules report what is never freed as leaks)."""
    gc.unfreeze()

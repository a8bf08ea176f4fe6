"""Per-request choice among PEFT adapters resident on one shared model."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# Name of the "no adapter" choice, the same convention PEFT uses in mixed-adapter batches.
BASE_ADAPTER = "__base__"
_EXCLUSIVE = "\0exclusive"
_POLL_S = 0.05


class AdapterGate:
    """Runs generations of the active adapter together; switching waits for them to drain.

    PEFT keeps the active adapter as model-global state (set_adapter, enable/disable layers),
    so two threads may only run forward passes concurrently when they want the same adapter.
    Waiting switches block newcomers of the active adapter, so a switch is never starved.
    """

    def __init__(self, activate: Callable[[str], None], active: str = BASE_ADAPTER) -> None:
        self._activate = activate
        self._active = active
        self._users = 0
        self._pending: Counter[str] = Counter()
        self._cond = threading.Condition()

    @property
    def active(self) -> str:
        """Return the adapter the model currently runs with."""
        return self._active

    @contextmanager
    def use(self, adapter: str, should_stop: Callable[[], bool]) -> Iterator[bool]:
        """Hold the model with adapter active; yields False if should_stop fired while waiting."""
        entered = self._enter(adapter, should_stop)
        try:
            yield entered
        finally:
            if entered:
                with self._cond:
                    self._users -= 1
                    self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the model alone (no generation runs or starts), e.g. to load or drop adapters."""
        with self._cond:
            self._pending[_EXCLUSIVE] += 1
            try:
                while self._users:
                    self._cond.wait()
                # The condition's lock stays held: every newcomer waits until we are done.
                yield
            finally:
                self._pending[_EXCLUSIVE] -= 1
                self._cond.notify_all()

    def mark_active(self, adapter: str) -> None:
        """Record which adapter the model runs with; call only inside exclusive()."""
        self._active = adapter

    def _enter(self, adapter: str, should_stop: Callable[[], bool]) -> bool:
        with self._cond:
            waiting = False
            # Set once we saw another adapter active: we then belong to the batch that asked for
            # this switch and may enter with it even if yet other switches are queued.
            switched_to = False
            try:
                while True:
                    others = sum(n for name, n in self._pending.items() if name != adapter)
                    if self._active == adapter and (switched_to or others == 0):
                        break
                    switched_to = switched_to or self._active != adapter
                    if self._active != adapter and self._users == 0:
                        self._activate(adapter)
                        self._active = adapter
                        break
                    if should_stop():
                        return False
                    if not waiting:
                        self._pending[adapter] += 1
                        waiting = True
                    self._cond.wait(timeout=_POLL_S)
            finally:
                if waiting:
                    self._pending[adapter] -= 1
                    self._cond.notify_all()
            self._users += 1
            return True

"""Which queries were cancelled, including cancels that arrive before the query starts."""

from __future__ import annotations

import threading
from collections import OrderedDict


class Cancellations:
    """Maps running queries to stop flags and remembers recent cancels for late starters."""

    def __init__(self, remember: int = 10_000) -> None:
        self._running: dict[str, threading.Event] = {}
        self._cancelled: OrderedDict[str, None] = OrderedDict()
        self._remember = remember
        self._lock = threading.Lock()

    def register(self, query_id: str) -> threading.Event:
        """A stop flag for a query that starts now; already set if it was cancelled before."""
        flag = threading.Event()
        with self._lock:
            if query_id in self._cancelled:
                flag.set()
            self._running[query_id] = flag
        return flag

    def cancel(self, query_id: str) -> bool:
        """Stop a running query (True) or remember the cancel for when it starts (False)."""
        with self._lock:
            self._cancelled[query_id] = None
            while len(self._cancelled) > self._remember:
                self._cancelled.popitem(last=False)
            flag = self._running.get(query_id)
        if flag is not None:
            flag.set()
            return True
        return False

    def release(self, query_id: str) -> None:
        with self._lock:
            self._running.pop(query_id, None)

    @property
    def running(self) -> int:
        return len(self._running)

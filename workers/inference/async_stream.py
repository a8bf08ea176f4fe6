"""Bridge a blocking GenerationStream to asyncio through a worker thread and a queue."""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from types import TracebackType

from workers.inference.results import Delta, GenerationResult, GenerationStream

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Done:
    result: GenerationResult | None


@dataclass(frozen=True, slots=True)
class _Failed:
    error: BaseException


class _Outcome:
    """Where the worker thread leaves the result, readable even after the consumer left."""

    result: GenerationResult | None = None


def _pump(
    stream: GenerationStream,
    loop: asyncio.AbstractEventLoop,
    queue: asyncio.Queue[Delta | _Done | _Failed],
    stop: threading.Event,
    outcome: _Outcome,
    finished: threading.Event,
) -> None:
    """Run the generation in this thread and hand every item to the event loop."""

    def put(item: Delta | _Done | _Failed) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:
            # The loop is closed: nobody will read, so stop at the next token.
            stop.set()

    try:
        with stream:
            for delta in stream:
                put(delta)
        outcome.result = stream.result
        put(_Done(stream.result))
    except BaseException as exc:  # handed over to the consumer, who re-raises it
        put(_Failed(exc))
    finally:
        finished.set()


class AsyncGenerationStream:
    """Async iterator of deltas; cancelling the consumer stops the generation thread.

    The generation starts on the first `__anext__`. `finished` is set once the worker thread
    has returned, and `result` from then on; the thread stops at its next token after
    `cancel()`, `aclose()`, cancellation of the consuming task, or `stop` being set.
    """

    def __init__(self, stream: GenerationStream, stop: threading.Event) -> None:
        self._stream = stream
        self.stop = stop
        self.finished = threading.Event()
        self._outcome = _Outcome()
        self._queue: asyncio.Queue[Delta | _Done | _Failed] | None = None
        self._done = False

    def __aiter__(self) -> AsyncGenerationStream:
        return self

    async def __anext__(self) -> Delta:
        if self._done:
            raise StopAsyncIteration
        if self._queue is None:
            self._queue = self._start()
        try:
            item = await self._queue.get()
        except asyncio.CancelledError:
            self.stop.set()
            raise
        if isinstance(item, Delta):
            return item
        self._done = True
        if isinstance(item, _Failed):
            raise item.error
        raise StopAsyncIteration

    @property
    def result(self) -> GenerationResult | None:
        """Return the final result once the generation thread has finished, else None."""
        return self._outcome.result

    def cancel(self) -> None:
        """Ask the generation to stop at its next token."""
        self.stop.set()

    async def aclose(self) -> None:
        """Stop the generation if it is still running; does not wait for the thread."""
        self.stop.set()
        if self._queue is None and not self._done:
            # Never started: nothing runs, so there is no thread to wait for.
            self._done = True
            self._stream.close()
            self.finished.set()

    async def wait_finished(self, timeout: float | None = None) -> bool:
        """Wait without blocking the loop until the worker thread has returned."""
        return await asyncio.to_thread(self.finished.wait, timeout)

    async def __aenter__(self) -> AsyncGenerationStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # An abandoned stream must not keep generating (and holding a slot) for nobody.
        self.stop.set()

    def _start(self) -> asyncio.Queue[Delta | _Done | _Failed]:
        queue: asyncio.Queue[Delta | _Done | _Failed] = asyncio.Queue()
        # The thread gets no reference to self, so dropping the stream triggers __del__.
        threading.Thread(
            target=_pump,
            args=(
                self._stream,
                asyncio.get_running_loop(),
                queue,
                self.stop,
                self._outcome,
                self.finished,
            ),
            name="melancia-generate",
            daemon=True,
        ).start()
        return queue

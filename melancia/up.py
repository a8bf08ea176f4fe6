"""`melancia up`: the embedded broker (unless Kafka is configured), the gateway and the workers."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

from events.embedded import EmbeddedBroker, free_port
from events.settings import BusSettings
from melancia.discovery import WORKER_ORDER, worker_names

logger = logging.getLogger(__name__)
LOOPBACK = {"127.0.0.1", "localhost", "::1"}

# Each worker gets a fixed block of metrics ports, so Prometheus finds it whichever workers run
# (monitoring/prometheus/prometheus.local.yml): base + 10 * its place in WORKER_ORDER (others
# after) + replica index. Inference: 9100.., analytics 9110, drift 9120, training 9130, ...
# MELANCIA_METRICS_PORT, if set, moves the base.
METRICS_BASE_PORT = 9100
METRICS_PORT_STRIDE = 10


def _metrics_port(preferred: int) -> int:
    """`preferred` when it is free on loopback, else any free port (a worker must not die of it)."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            port = free_port()
            logger.warning("metrics port %d is taken; using %d", preferred, port)
            return port
    return preferred


class Supervisor:
    """Starts child processes, forwards one log stream, stops them all on exit or signal."""

    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._stopping = False

    def spawn(self, name: str, argv: Sequence[str], env: dict[str, str]) -> None:
        proc = subprocess.Popen(list(argv), env=env)  # inherit stdout/stderr: one log stream
        self.children.append((name, proc))
        logger.info("started %s (pid %d)", name, proc.pid)

    def wait(self) -> int:
        """Block until a child dies or a signal arrives; returns the exit code to use."""
        while not self._stopping:
            for name, proc in self.children:
                code = proc.poll()
                if code is not None:
                    logger.error("%s exited with %s; shutting down", name, code)
                    return code or 1
            time.sleep(0.2)
        return 0

    def stop(self, *_: object) -> None:
        self._stopping = True

    def shutdown(self, timeout_s: float = 15.0) -> None:
        for name, proc in reversed(self.children):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout_s)
                except subprocess.TimeoutExpired:
                    logger.warning("%s did not stop in %.0fs; killing", name, timeout_s)
                    proc.kill()
                    proc.wait()
        self.children.clear()


def run_up(
    *, workers: Sequence[str], replicas: int, port: int | None, broker_port: int = 9092
) -> int:
    """Run the whole system in the foreground until Ctrl-C."""
    env = dict(os.environ)
    if port is not None:
        env["MELANCIA_PORT"] = str(port)
    if "MELANCIA_ENV" not in env and env.get("MELANCIA_HOST", "127.0.0.1") in LOOPBACK:
        env["MELANCIA_ENV"] = "development"
        logger.warning("development mode: authentication is OFF (the gateway listens on loopback)")
    broker: EmbeddedBroker | None = None
    if not BusSettings().bootstrap:
        broker = EmbeddedBroker(port=broker_port)
        broker.start()
        env["MELANCIA_KAFKA_BOOTSTRAP"] = broker.bootstrap
        logger.info("embedded Kafka-protocol broker (Tansu) on %s", broker.bootstrap)
    else:
        logger.info("using Kafka at %s", env["MELANCIA_KAFKA_BOOTSTRAP"])
    supervisor = Supervisor()
    signal.signal(signal.SIGINT, supervisor.stop)
    signal.signal(signal.SIGTERM, supervisor.stop)
    code = 0
    try:
        supervisor.spawn("gateway", [sys.executable, "-m", "melancia", "gateway"], env)
        base = int(env.get("MELANCIA_METRICS_PORT") or METRICS_BASE_PORT)
        slots = [*WORKER_ORDER, *sorted(set(worker_names()) - set(WORKER_ORDER))]
        for worker in workers:
            slot = slots.index(worker) if worker in slots else len(slots)
            for i in range(replicas if worker == "inference" else 1):
                child_env = {
                    **env,
                    "MELANCIA_WORKER_INDEX": str(i),
                    "MELANCIA_METRICS_PORT": str(
                        _metrics_port(base + METRICS_PORT_STRIDE * slot + i)
                    ),
                }
                argv = [sys.executable, "-m", "melancia", "worker", worker]
                supervisor.spawn(f"{worker}-{i}", argv, child_env)
                logger.info("%s-%d metrics on :%s", worker, i, child_env["MELANCIA_METRICS_PORT"])
        code = supervisor.wait()
    finally:
        logger.info("stopping")
        supervisor.shutdown()
        if broker is not None:
            broker.stop()
    return code

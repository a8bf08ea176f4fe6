"""One log format for every process, so `melancia up` shows a single readable stream."""

from __future__ import annotations

import logging
import os
import sys


def configure(service: str, level: str | None = None) -> None:
    """Log to stderr as `time level [service] logger: message`."""
    level = level or os.environ.get("MELANCIA_LOG_LEVEL", "INFO")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s %(levelname)-7s [{service}] %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "httpx", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

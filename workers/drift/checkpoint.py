"""The drift worker's state on disk: river detectors, references, offsets and the policy.

Pickled (river detectors are plain Python objects) and written atomically, so a crash during a
write leaves the previous checkpoint. A file that cannot be read is moved aside, not trusted.
"""

from __future__ import annotations

import logging
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

from workers.drift.engine import DriftEngine
from workers.drift.policy import RetrainPolicy

logger = logging.getLogger(__name__)

STATE_VERSION = 1


@dataclass
class DriftState:
    engine: DriftEngine
    policy: RetrainPolicy
    version: int = STATE_VERSION


def save(path: Path, state: DriftState) -> None:
    """Write the state next to `path` and rename it over (atomic on POSIX)."""
    data = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def load(path: Path) -> DriftState | None:
    """The saved state, or None when there is none (or it is unreadable, then set aside)."""
    if not path.exists():
        return None
    try:
        state = pickle.loads(path.read_bytes())  # our own file, written by save()
        if not isinstance(state, DriftState) or state.version != STATE_VERSION:
            raise ValueError(f"not a version-{STATE_VERSION} drift state")
    except (pickle.UnpicklingError, EOFError, ValueError, AttributeError, ImportError) as exc:
        aside = path.with_suffix(path.suffix + ".unreadable")
        os.replace(path, aside)
        logger.error(
            "drift state %s unreadable (%s); moved to %s, starting fresh", path, exc, aside
        )
        return None
    return state

"""Who may take over a job whose run is still RUNNING in MLflow."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from types import SimpleNamespace

from workers.registry import tags
from workers.training.tracking import Previous


def _previous(status: str, owner: str, heartbeat: float) -> Previous:
    run = SimpleNamespace(
        info=SimpleNamespace(status=status, run_id="r1"),
        data=SimpleNamespace(
            tags={tags.OWNER: owner, tags.HEARTBEAT_AT: f"{heartbeat:.0f}", tags.JOB_ID: "j1"},
            metrics={},
        ),
    )
    return Previous(run)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_run_of_a_dead_process_on_this_host_is_resumed_at_once() -> None:
    host = socket.gethostname()
    previous = _previous("RUNNING", f"{host}:{_dead_pid()}", time.time())
    assert not previous.alive_elsewhere(stale_after_s=600, me="someone-else")


def test_a_run_of_a_live_process_on_this_host_is_left_alone() -> None:
    previous = _previous("RUNNING", f"{socket.gethostname()}:{os.getppid()}", 0)
    assert previous.alive_elsewhere(stale_after_s=600, me="me")


def test_a_run_on_another_host_is_left_alone_until_its_heartbeat_goes_stale() -> None:
    assert _previous("RUNNING", "other-host:1", time.time()).alive_elsewhere(
        stale_after_s=600, me="me"
    )
    assert not _previous("RUNNING", "other-host:1", time.time() - 601).alive_elsewhere(
        stale_after_s=600, me="me"
    )


def test_finished_failed_and_own_runs_are_never_busy() -> None:
    assert not _previous("FAILED", "other-host:1", time.time()).alive_elsewhere(
        stale_after_s=600, me="me"
    )
    assert not _previous("RUNNING", "me", time.time()).alive_elsewhere(stale_after_s=600, me="me")
    assert not _previous("RUNNING", "me", time.time()).finished

"""The embedded broker says why it could not start, and leaves nothing behind."""

from __future__ import annotations

import socket

import pytest

from events.embedded import EmbeddedBroker


def test_a_taken_port_fails_the_start_with_tansus_own_words() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        broker = EmbeddedBroker(port=taken.getsockname()[1])
        with pytest.raises(RuntimeError, match=r"(?s)Tansu exited with .*Address in use"):
            broker.start(timeout_s=10)
    assert broker.process is None  # stopped and forgotten: a later stop() is a no-op
    broker.stop()

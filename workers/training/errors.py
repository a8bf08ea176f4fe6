"""How a job ends without an adapter."""

from __future__ import annotations


class JobRejected(Exception):
    """The request cannot be trained here; the message is the reason given to the requester."""


class JobInterrupted(Exception):
    """The worker is stopping; a checkpoint was saved and the job should be redelivered."""


class JobBusy(Exception):
    """Another live process is training this idempotency key right now."""

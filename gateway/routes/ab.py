"""`GET /api/v1/ab/report`: champion against challenger on feedback, latency and volume.

The gateway follows `query.completed` and `feedback.submitted` from the start of the topics
(no group: every instance builds the same ledger, also after a restart) into a bounded
in-memory ledger; the significance tests run on request.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Query, Request
from faststream import AckPolicy
from faststream.kafka import KafkaBroker

from events.topics import FEEDBACK_SUBMITTED, QUERY_COMPLETED
from gateway.experiment import ExperimentLedger
from gateway.router import policy_of
from schemas.envelope import Envelope
from schemas.query import FeedbackSubmitted, QueryCompleted
from schemas.routing import ABReport

router = APIRouter(prefix="/api/v1/ab", tags=["models"])


def ledger_of(state: Any) -> ExperimentLedger:
    ledger = getattr(state, "ab_ledger", None)
    if ledger is None:
        ledger = ExperimentLedger()
        state.ab_ledger = ledger
    return ledger


def subscribe(broker: KafkaBroker, state: Any) -> None:
    """Feed the ledger from the query log and the feedback topic."""
    ledger = ledger_of(state)

    @broker.subscriber(
        QUERY_COMPLETED, auto_offset_reset="earliest", ack_policy=AckPolicy.ACK_FIRST
    )
    async def on_completed(event: Envelope[QueryCompleted]) -> None:
        ledger.record_query(event.data, at=event.time)

    @broker.subscriber(
        FEEDBACK_SUBMITTED, auto_offset_reset="earliest", ack_policy=AckPolicy.ACK_FIRST
    )
    async def on_feedback(event: Envelope[FeedbackSubmitted]) -> None:
        ledger.record_feedback(event.data)


@router.get("/report", response_model=ABReport)
async def report(
    request: Request,
    hours: float | None = Query(default=None, gt=0, description="only the last N hours"),
    alpha: float = Query(default=0.05, gt=0, lt=1),
) -> ABReport:
    """Per variant: queries, users, errors, thumbs up/down, latency; challenger vs champion
    with a two-proportion z-test (thumbs up per query), Mann-Whitney U (latency) and a
    sample-ratio check of users against the configured share."""
    since = datetime.now(UTC) - timedelta(hours=hours) if hours else None
    state = request.app.state
    return ledger_of(state).report(
        since=since, configured_share=policy_of(state).challenger_share, alpha=alpha
    )

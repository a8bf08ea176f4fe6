"""Feedback on answers: POST /api/v1/feedback publishes `feedback.submitted`."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, status

from events.topics import FEEDBACK_SUBMITTED
from gateway.bus import BusUnavailable
from gateway.deps import BookDep, BusDep
from gateway.service import SOURCE, Unavailable
from schemas.api import ErrorResponse, FeedbackRequest, FeedbackResponse
from schemas.envelope import make_event
from schemas.query import FeedbackSubmitted

router = APIRouter(prefix="/api/v1/feedback", tags=["feedback"])
RATINGS: dict[str, Literal[-1, 1]] = {"up": 1, "down": -1}


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=FeedbackResponse,
    responses={code: {"model": ErrorResponse} for code in (404, 422, 503)},
)
async def submit_feedback(body: FeedbackRequest, bus: BusDep, book: BookDep) -> FeedbackResponse:
    """Rate an answer this gateway served recently (thumbs up or down, optional comment)."""
    if book.get(body.query_id) is None:
        raise HTTPException(404, f"query {body.query_id} is unknown or expired")
    rating = RATINGS[body.rating]
    comment = body.comment.strip() if body.comment and body.comment.strip() else None
    payload = FeedbackSubmitted(
        query_id=body.query_id,
        rating=rating,
        comment=comment,
        user_id=body.user_id,
    )
    event = make_event(payload, source=SOURCE, correlation_id=body.query_id)
    try:
        await bus.publish(FEEDBACK_SUBMITTED, event, key=body.query_id)
    except BusUnavailable as exc:
        raise Unavailable(str(exc)) from exc
    return FeedbackResponse(query_id=body.query_id, rating=rating)

"""Models and routing: what live workers serve, the routing policy, promotions seen on the bus.

`POST /api/v1/models/select` changes this gateway's routing at run time (pin a user to a
variant, send a tier elsewhere, set the challenger's share); the startup values come from the
gateway settings, so every instance agrees after a restart.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from faststream import AckPolicy
from faststream.kafka import KafkaBroker

from events.topics import MODEL_PROMOTED, MODEL_ROLLED_BACK
from gateway.deps import TrackerDep
from gateway.router import policy_of, served_variants
from schemas.envelope import Envelope
from schemas.registry import ModelPromoted, ModelRolledBack
from schemas.routing import (
    ModelsListResponse,
    ModelsStatusResponse,
    RoutingPolicy,
    SelectRequest,
    ServedModel,
    VariantServing,
)

router = APIRouter(prefix="/api/v1/models", tags=["models"])


def _registry_view(state: Any) -> dict[str, Any]:
    view = getattr(state, "registry_view", None)
    if view is None:
        view = {"last_promotion": None, "last_rollback": None, "aliases": {}}
        state.registry_view = view
    return view


def subscribe(broker: KafkaBroker, state: Any) -> None:
    """Follow promotions and rollbacks from the start (no group: every gateway needs them)."""
    view = _registry_view(state)

    @broker.subscriber(MODEL_PROMOTED, auto_offset_reset="earliest", ack_policy=AckPolicy.ACK_FIRST)
    async def on_promoted(event: Envelope[ModelPromoted]) -> None:
        data = event.data
        view["last_promotion"] = {**data.model_dump(), "time": event.time.isoformat()}
        view["aliases"].setdefault(data.model_name, {})[data.alias] = data.version

    @broker.subscriber(
        MODEL_ROLLED_BACK, auto_offset_reset="earliest", ack_policy=AckPolicy.ACK_FIRST
    )
    async def on_rolled_back(event: Envelope[ModelRolledBack]) -> None:
        data = event.data
        view["last_rollback"] = {**data.model_dump(), "time": event.time.isoformat()}
        view["aliases"].setdefault(data.model_name, {})[data.alias] = data.version


@router.get("", response_model=ModelsListResponse)
async def list_models(request: Request, tracker: TrackerDep) -> ModelsListResponse:
    """Base models that live workers serve, their variants (arm → version label), and routing."""
    workers: Counter[str] = Counter()
    variants: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
    for beat in tracker.alive():
        for name in beat.models:
            workers[name] += 1
            for variant, label in beat.variants.items():
                variants[name][(variant, label)] += 1
    models = [
        ServedModel(
            name=name,
            workers=count,
            variants=[
                VariantServing(variant=variant, label=label, workers=n)
                for (variant, label), n in sorted(variants[name].items())
            ],
        )
        for name, count in sorted(workers.items())
    ]
    return ModelsListResponse(models=models, routing=policy_of(request.app.state))


@router.get("/status", response_model=ModelsStatusResponse)
async def status(request: Request, tracker: TrackerDep) -> ModelsStatusResponse:
    """Every live worker with what it serves, the routing policy, the last promotion/rollback."""
    view = _registry_view(request.app.state)
    workers = [
        {
            "worker_id": beat.worker_id,
            "models": beat.models,
            "variants": beat.variants,
            "in_flight": beat.in_flight,
            "capacity": beat.capacity,
        }
        for beat in tracker.alive()
    ]
    return ModelsStatusResponse(
        workers=workers,
        routing=policy_of(request.app.state),
        last_promotion=view["last_promotion"],
        last_rollback=view["last_rollback"],
        registry={"aliases": view["aliases"]},
    )


@router.post("/select", response_model=RoutingPolicy)
async def select(body: SelectRequest, request: Request, tracker: TrackerDep) -> RoutingPolicy:
    """Pin a user to a variant (or unpin), route a tier to a variant, or set the A/B share."""
    state = request.app.state
    policy = policy_of(state)
    changes: dict[str, Any] = {}
    if body.variant is not None:
        served = served_variants(tracker.alive())
        if body.variant not in served:
            raise HTTPException(
                422, f"variant {body.variant!r} is not served; available: {sorted(served)}"
            )
        if body.user_id is not None:
            changes["pins"] = {**policy.pins, body.user_id: body.variant}
        elif body.tier is not None:
            changes[f"{body.tier}_variant"] = body.variant
        else:
            raise HTTPException(422, "variant needs user_id (pin) or tier (route the tier)")
    if body.unpin:
        if body.user_id is None:
            raise HTTPException(422, "unpin needs user_id")
        changes["pins"] = {k: v for k, v in policy.pins.items() if k != body.user_id}
    if body.challenger_share is not None:
        changes["challenger_share"] = body.challenger_share
    if body.free_max_new_tokens is not None:
        changes["free_max_new_tokens"] = body.free_max_new_tokens
    if not changes:
        raise HTTPException(422, "nothing to change")
    state.routing = RoutingPolicy.model_validate({**policy.model_dump(), **changes})
    return state.routing

"""Which variant answers a request: explicit choice, user pin, A/B split, then the tier's default.

Plain logic: the gateway passes the variants that live workers advertise. The A/B assignment is
a hash of (salt, user_id), so a user keeps their arm across requests, gateways and restarts;
changing the salt reshuffles everyone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from schemas.common import Tier
from schemas.ops import WorkerHeartbeat
from schemas.routing import CHALLENGER, CHAMPION, RoutingPolicy

ANONYMOUS = "anonymous"
_SCALE = float(16**15)


@dataclass(frozen=True)
class Route:
    """The variant to ask for (None: the worker's default) and why."""

    variant: str | None
    reason: str
    max_new_tokens: int | None = None


def bucket(user_id: str, salt: str) -> float:
    """A stable number in [0, 1) for the user."""
    digest = hashlib.sha256(f"{salt}:{user_id}".encode()).hexdigest()
    return int(digest[:15], 16) / _SCALE


def in_challenger_arm(policy: RoutingPolicy, user_id: str) -> bool:
    """Whether the user falls in the challenger's share (anonymous users never do)."""
    return user_id != ANONYMOUS and bucket(user_id, policy.salt) < policy.challenger_share


def route(
    policy: RoutingPolicy,
    *,
    user_id: str,
    tier: Tier,
    requested: str | None,
    available: Collection[str],
) -> Route:
    """Choose the variant for one request.

    `available` are the variants live workers advertise; a variant nobody serves is never
    chosen implicitly (the request then goes to the worker's default, the champion).
    """
    cap = policy.free_max_new_tokens if tier == "free" else None
    if requested is not None:
        return Route(requested, "requested", cap)
    pinned = policy.pins.get(user_id)
    if pinned is not None and pinned in available:
        return Route(pinned, "pinned", cap)
    target = policy.variant_for(tier)
    if (
        target == CHAMPION
        and tier in policy.ab_tiers
        and CHALLENGER in available
        and in_challenger_arm(policy, user_id)
    ):
        return Route(CHALLENGER, "ab", cap)
    if target in available:
        return Route(target, "tier", cap)
    return Route(None, "default", cap)


def policy_from_settings(settings: object) -> RoutingPolicy:
    """The startup policy from the gateway settings (fields absent there keep their defaults)."""
    fields = {
        "premium_variant": "route_premium_variant",
        "free_variant": "route_free_variant",
        "internal_variant": "route_internal_variant",
        "free_max_new_tokens": "route_free_max_new_tokens",
        "challenger_share": "ab_challenger_share",
        "ab_tiers": "ab_tiers",
        "salt": "ab_salt",
    }
    values = {
        name: getattr(settings, attr) for name, attr in fields.items() if hasattr(settings, attr)
    }
    return RoutingPolicy(**values)


def policy_of(state: Any) -> RoutingPolicy:
    """This gateway's current policy, kept on app.state (POST /api/v1/models/select edits it)."""
    policy = getattr(state, "routing", None)
    if policy is None:
        policy = policy_from_settings(getattr(state, "settings", None))
        if state is not None:
            state.routing = policy
    return policy


def served_variants(beats: Iterable[WorkerHeartbeat]) -> set[str]:
    """Variants (arms) that at least one live worker advertises."""
    return {variant for beat in beats for variant in beat.variants}

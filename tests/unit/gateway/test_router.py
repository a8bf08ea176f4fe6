"""Routing by tier, the A/B split's stability and share, pins and explicit choices."""

from __future__ import annotations

from gateway.router import bucket, in_challenger_arm, route
from schemas.routing import RoutingPolicy

BOTH = {"champion", "challenger", "base"}


def test_the_ab_assignment_is_stable_and_close_to_the_share_over_10000_users() -> None:
    policy = RoutingPolicy(challenger_share=0.2)
    users = [f"user-{i}" for i in range(10_000)]

    first = [
        route(policy, user_id=u, tier="premium", requested=None, available=BOTH) for u in users
    ]
    again = [
        route(policy, user_id=u, tier="premium", requested=None, available=BOTH) for u in users
    ]

    assert [r.variant for r in first] == [r.variant for r in again]
    share = sum(r.variant == "challenger" for r in first) / len(users)
    # Binomial sd at n=10,000, p=0.2 is 0.004: 0.015 is more than three of them.
    assert abs(share - 0.2) < 0.015
    assert {r.reason for r in first} == {"ab", "tier"}


def test_a_user_keeps_the_arm_when_the_share_grows() -> None:
    small, large = RoutingPolicy(challenger_share=0.1), RoutingPolicy(challenger_share=0.3)
    users = [f"u{i}" for i in range(2_000)]

    moved_out = [
        u for u in users if in_challenger_arm(small, u) and not in_challenger_arm(large, u)
    ]

    assert moved_out == []


def test_the_salt_reshuffles_users() -> None:
    assert bucket("u1", "a") != bucket("u1", "b")
    assert 0.0 <= bucket("u1", "a") < 1.0


def test_no_challenger_served_means_everyone_gets_the_champion() -> None:
    policy = RoutingPolicy(challenger_share=1.0)

    chosen = route(policy, user_id="u1", tier="premium", requested=None, available={"champion"})

    assert (chosen.variant, chosen.reason) == ("champion", "tier")


def test_anonymous_users_stay_out_of_the_experiment() -> None:
    policy = RoutingPolicy(challenger_share=1.0)

    chosen = route(policy, user_id="anonymous", tier="premium", requested=None, available=BOTH)

    assert chosen.variant == "champion"


def test_tiers_route_to_their_configured_variant_with_the_free_cap() -> None:
    policy = RoutingPolicy(free_variant="base", free_max_new_tokens=128, challenger_share=1.0)

    free = route(policy, user_id="u1", tier="free", requested=None, available=BOTH)
    premium = route(policy, user_id="u1", tier="premium", requested=None, available={"champion"})

    assert (free.variant, free.reason, free.max_new_tokens) == ("base", "tier", 128)
    assert (premium.variant, premium.max_new_tokens) == ("champion", None)


def test_ab_applies_only_to_the_configured_tiers() -> None:
    policy = RoutingPolicy(challenger_share=1.0, ab_tiers=["premium"])

    assert route(policy, user_id="u1", tier="free", requested=None, available=BOTH).variant == (
        "champion"
    )
    assert route(policy, user_id="u1", tier="premium", requested=None, available=BOTH).variant == (
        "challenger"
    )


def test_explicit_choice_then_pin_win_over_the_split() -> None:
    policy = RoutingPolicy(challenger_share=1.0, pins={"u1": "base", "u2": "gone"})

    explicit = route(policy, user_id="u1", tier="premium", requested="champion", available=BOTH)
    pinned = route(policy, user_id="u1", tier="premium", requested=None, available=BOTH)
    stale_pin = route(policy, user_id="u2", tier="premium", requested=None, available=BOTH)

    assert (explicit.variant, explicit.reason) == ("champion", "requested")
    assert (pinned.variant, pinned.reason) == ("base", "pinned")
    assert (stale_pin.variant, stale_pin.reason) == ("challenger", "ab")


def test_an_unserved_tier_variant_falls_back_to_the_worker_default() -> None:
    policy = RoutingPolicy(free_variant="lite")

    chosen = route(policy, user_id="u1", tier="free", requested=None, available={"champion"})

    assert (chosen.variant, chosen.reason) == (None, "default")

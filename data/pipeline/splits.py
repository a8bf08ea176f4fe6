"""Deterministic train/val/test assignment of question groups, stratified."""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Mapping

logger = logging.getLogger(__name__)

SPLITS: tuple[str, ...] = ("train", "val", "test")
RATIOS: Mapping[str, float] = {"train": 0.8, "val": 0.1, "test": 0.1}


def _most_needed(
    local: dict[str, float], total: dict[str, float], weight: float, ratios: Mapping[str, float]
) -> str:
    """Pick the split furthest below its share in the stratum, then overall."""
    # The global shortfall breaks ties so small strata do not all favour the same split.
    local_size = sum(local.values()) + weight
    global_size = sum(total.values()) + weight
    return max(
        SPLITS,
        key=lambda s: (
            round(ratios[s] * local_size - local[s], 6),
            round(ratios[s] * global_size - total[s], 6),
        ),
    )


def assign_groups(
    groups: Mapping[str, tuple[str, int]], *, seed: int, ratios: Mapping[str, float] = RATIOS
) -> dict[str, str]:
    """Map each group id to a split; groups is {group id: (stratum, record count)}."""
    by_stratum: dict[str, list[str]] = defaultdict(list)
    for group_id, (stratum, _) in groups.items():
        by_stratum[stratum].append(group_id)
    total: dict[str, float] = dict.fromkeys(SPLITS, 0.0)
    assignment: dict[str, str] = {}
    for stratum in sorted(by_stratum):
        members = sorted(by_stratum[stratum])
        random.Random(f"{seed}:split:{stratum}").shuffle(members)
        local: dict[str, float] = dict.fromkeys(SPLITS, 0.0)
        for group_id in members:
            weight = groups[group_id][1]
            split = _most_needed(local, total, weight, ratios)
            assignment[group_id] = split
            local[split] += weight
            total[split] += weight
    logger.info(
        "assigned %d groups: %s",
        len(assignment),
        {s: sum(1 for v in assignment.values() if v == s) for s in SPLITS},
    )
    return assignment

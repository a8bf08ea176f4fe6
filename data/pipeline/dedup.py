"""Drop base questions whose phrasings near-duplicate another group's questions."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from data.pipeline.minhash import DEFAULT_THRESHOLD, near_duplicates
from data.pipeline.records import Phrased

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Dropped:
    """A record removed because its question near-duplicates another one."""

    record_id: str
    base_id: str
    matched: str  # the record id or benchmark id it collided with
    similarity: float
    reason: str  # "near-duplicate" within the dataset, or "leakage:<split>"

    def as_dict(self) -> dict[str, object]:
        """Return a JSON-friendly dict."""
        return {
            "record_id": self.record_id,
            "base_id": self.base_id,
            "matched": self.matched,
            "similarity": round(self.similarity, 3),
            "reason": self.reason,
        }


def _drop_bases(
    items: Sequence[Phrased], bases: dict[str, tuple[str, float, str]]
) -> tuple[list[Phrased], list[Dropped]]:
    kept, dropped = [], []
    for item in items:
        hit = bases.get(item.base.base_id)
        if hit is None:
            kept.append(item)
        else:
            dropped.append(Dropped(item.record_id, item.base.base_id, hit[0], hit[1], hit[2]))
    return kept, dropped


def dedup_across_groups(
    items: Sequence[Phrased], *, threshold: float = DEFAULT_THRESHOLD
) -> tuple[list[Phrased], list[Dropped]]:
    """Keep the first of near-duplicate questions from different groups; drop the later base."""
    # Phrasings of one question, and exercises of one template, are similar on purpose.
    pairs = near_duplicates([i.question for i in items], threshold=threshold)
    drop: dict[str, tuple[str, float, str]] = {}
    for pair in sorted(pairs, key=lambda p: (p.left, p.right)):
        left, right = items[pair.left], items[pair.right]
        if left.base.group_id == right.base.group_id or left.base.base_id in drop:
            continue
        drop.setdefault(right.base.base_id, (left.record_id, pair.similarity, "near-duplicate"))
    kept, dropped = _drop_bases(items, drop)
    logger.info(
        "near-duplicate removal dropped %d records (%d base questions)", len(dropped), len(drop)
    )
    return kept, dropped


def drop_leaks(
    train: Sequence[Phrased],
    others: Sequence[tuple[str, str, str]],
    *,
    threshold: float = DEFAULT_THRESHOLD,
) -> tuple[list[Phrased], list[Dropped]]:
    """Drop training bases near-duplicating any (id, question, split) held out elsewhere."""
    pairs = near_duplicates(
        [i.question for i in train], [q for _, q, _ in others], threshold=threshold
    )
    drop: dict[str, tuple[str, float, str]] = {}
    for pair in sorted(pairs, key=lambda p: (p.left, p.right)):
        other_id, _, split = others[pair.right]
        drop.setdefault(
            train[pair.left].base.base_id, (other_id, pair.similarity, f"leakage:{split}")
        )
    kept, dropped = _drop_bases(train, drop)
    logger.info(
        "leakage check dropped %d training records (%d base questions)", len(dropped), len(drop)
    )
    return kept, dropped

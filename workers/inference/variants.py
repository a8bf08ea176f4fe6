"""The variants one worker serves (champion, challenger, base) and live adapter swaps.

A variant is an arm of the routing ("champion", "challenger", "base") bound to a resident
PEFT adapter; its label ("champion@3") names the registry version that answered, and goes on
every `done` event and `query.completed` record. A promotion loads the new version under its
own adapter name while the old one keeps answering the streams already running on it, then
points the arm at it; requests resolve their adapter when they start, so a stream never
changes adapter halfway. Older versions stay resident (bounded) so a rollback is instant.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from schemas.registry import ModelPromoted, ModelRolledBack
from workers.inference.adapters import BASE_ADAPTER
from workers.inference.engine import GenerationEngine

logger = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
BASE = "base"
BASE_VERSION = "base"  # the registry's name for "no adapter" (a rollback past the first version)


@dataclass(frozen=True)
class Arm:
    """What a variant serves: an adapter name on the engine, and the version it came from."""

    adapter: str
    version: str | None = None

    def label(self, variant: str) -> str:
        """ "champion@3"; just the variant when it serves no registry version (or the base)."""
        return f"{variant}@{self.version}" if self.version not in (None, BASE_VERSION) else variant


def adapter_name(model_name: str, version: str) -> str:
    """A PEFT adapter name for a registry version (no dots: they would nest modules)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", f"{model_name}-v{version}")


class Variants:
    """Variant → arm for one engine; swaps are serialized and run off the event loop."""

    def __init__(self, engine: GenerationEngine, *, max_resident: int = 3) -> None:
        self.engine = engine
        self.max_resident = max(1, max_resident)
        default = engine.default_adapter
        self._arms: dict[str, Arm] = {CHAMPION: Arm(default)}
        self._changed_at: dict[str, datetime] = {}
        self._loaded: list[str] = [a for a in engine.adapters]  # load order, oldest first
        self._swap = threading.Lock()

    def resolve(self, requested: str | None) -> tuple[str, Arm]:
        """The variant that answers a request (unknown or absent names get the champion)."""
        if requested == BASE:
            return BASE, Arm(BASE_ADAPTER)
        arms = self._arms
        if requested in arms:
            return requested, arms[requested]
        return CHAMPION, arms[CHAMPION]

    def advertised(self) -> dict[str, str]:
        """Variant → label, for heartbeats (routers only pick variants listed here)."""
        out = {name: arm.label(name) for name, arm in self._arms.items()}
        out[BASE] = BASE
        return out

    def arms(self) -> dict[str, Arm]:
        """Variant → arm, the base model included (what metrics report as served)."""
        return {**self._arms, BASE: Arm(BASE_ADAPTER)}

    def apply(
        self,
        *,
        variant: str,
        model_name: str,
        version: str,
        adapter_dir: Path | None,
        at: datetime,
    ) -> bool:
        """Point variant at a registry version (None adapter_dir: the base model).

        Blocking (loading waits for generations running on the model to finish their current
        step batch); call it in a thread. Events older than the last applied change of the
        same variant are ignored, so promotions and rollbacks read from two topics cannot
        undo each other out of order. Returns whether anything changed.
        """
        with self._swap:
            last = self._changed_at.get(variant)
            if last is not None and at <= last:
                logger.info("ignoring a %s change to v%s older than the last one", variant, version)
                return False
            if adapter_dir is None:
                arm = Arm(BASE_ADAPTER, version)
            else:
                name = adapter_name(model_name, version)
                if name not in self.engine.adapters:
                    self.engine.load_adapter(name, adapter_dir)
                    self._loaded.append(name)
                arm = Arm(name, version)
            self._arms = {**self._arms, variant: arm}
            self._changed_at[variant] = at
            if variant == CHAMPION:
                self.engine.set_default_adapter(
                    None if arm.adapter == BASE_ADAPTER else arm.adapter
                )
            logger.info("%s now serves %s (adapter %s)", variant, arm.label(variant), arm.adapter)
            self._evict()
            return True

    def retire(self, variant: str) -> None:
        """Stop serving a variant (not the champion), e.g. when an A/B test ends."""
        if variant == CHAMPION:
            raise ValueError("the champion cannot be retired")
        with self._swap:
            self._arms = {k: v for k, v in self._arms.items() if k != variant}
            self._evict()

    def _evict(self) -> None:
        """Drop the oldest adapters no variant serves, down to max_resident."""
        in_use = {arm.adapter for arm in self._arms.values()}
        resident = [a for a in self._loaded if a in self.engine.adapters]
        spare = [a for a in resident if a not in in_use]
        # The newest spares stay: the previous champion is what a rollback needs.
        while spare and len(resident) > self.max_resident:
            victim = spare.pop(0)
            resident.remove(victim)
            self.engine.unload_adapter(victim)
            logger.info("unloaded adapter %s", victim)
        self._loaded = resident


class Swapper:
    """Applies `model.promoted` / `model.rolled_back` to one worker's variants.

    Only events about the registered model this worker serves, on its base model, and sent
    after the worker started (older ones are already in what it loaded, or superseded) apply.
    """

    def __init__(
        self,
        variants: Variants,
        *,
        model_name: str,
        base_model: str,
        adapter_cache: Path,
        tracking_uri: str | None,
        started_at: datetime,
    ) -> None:
        self.variants = variants
        self.model_name = model_name
        self.base_model = base_model
        self.adapter_cache = adapter_cache
        self.tracking_uri = tracking_uri
        self.started_at = started_at

    def _applies(self, model_name: str, base_model: str, at: datetime) -> bool:
        if model_name != self.model_name or base_model != self.base_model:
            logger.info("ignoring a change of %s on %s: not served here", model_name, base_model)
            return False
        return at >= self.started_at

    def _adapter_dir(self, uri: str | None) -> Path | None:
        if uri is None:
            return None
        from workers.registry.artifacts import resolve_adapter

        return resolve_adapter(uri, self.adapter_cache, tracking_uri=self.tracking_uri)

    def promoted(self, event: ModelPromoted, at: datetime) -> bool:
        """Serve the promoted version as its alias (blocking: run it in a thread)."""
        return self._serve(event, at)

    def rolled_back(self, event: ModelRolledBack, at: datetime) -> bool:
        """Serve the version the alias went back to (the base model when it has no adapter)."""
        return self._serve(event, at)

    def _serve(self, event: ModelPromoted | ModelRolledBack, at: datetime) -> bool:
        """Point the event's alias at the event's version, if this worker serves that model."""
        if not self._applies(event.model_name, event.base_model, at):
            return False
        return self.variants.apply(
            variant=event.alias,
            model_name=event.model_name,
            version=event.version,
            adapter_dir=self._adapter_dir(event.adapter_uri),
            at=at,
        )

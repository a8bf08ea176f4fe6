"""Serving LoRA adapters merged into the base weights, exact however often adapters switch."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from typing import Any

import torch

logger = logging.getLogger(__name__)

# LoraConfig fields that make an adapter more than W + B·A·scale on plain linear layers:
# trained biases, full copies of modules, shared (replicated) layers, trained token rows,
# adapted raw parameters, activated LoRA (only after an invocation sequence).
_BEYOND_WEIGHT_DELTA = (
    "lora_bias",
    "modules_to_save",
    "layer_replication",
    "trainable_token_indices",
    "target_parameters",
    "alora_invocation_tokens",
)


def _lora_layers(model: Any, adapter: str) -> Iterator[tuple[str, Any]]:
    from peft.tuners.lora import LoraLayer

    for name, module in model.named_modules():
        if isinstance(module, LoraLayer) and adapter in module.lora_A:
            yield name, module


def unmergeable_reason(model: Any, adapter: str) -> str | None:
    """Why adapter's delta is not a plain weight add on untied float linears; None if it is."""
    from peft import LoraConfig
    from peft.tuners.lora import Linear

    config = model.peft_config[adapter]
    if not isinstance(config, LoraConfig):
        return f"{config.peft_type} is not LoRA"
    if config.use_dora:
        return "DoRA rescales each merged weight column by its norm"
    if config.bias != "none":
        return f"bias={config.bias!r} trains the base biases"
    for feature in _BEYOND_WEIGHT_DELTA:
        if getattr(config, feature, None):
            return f"{feature} is set"
    uses = Counter(p.data_ptr() for _, p in model.named_parameters(remove_duplicate=False))
    layers = list(_lora_layers(model, adapter))
    if not layers:
        return "it adapts no layer"
    for name, layer in layers:
        base = layer.get_base_layer()
        if not isinstance(layer, Linear) or not isinstance(base, torch.nn.Linear):
            return f"{name} is a {type(layer).__name__}, not a plain linear"
        weight = base.weight
        if adapter in getattr(layer, "lora_variant", {}):
            return f"{name} runs the {type(layer.lora_variant[adapter]).__name__} variant"
        if not weight.is_floating_point():
            return f"{name} has quantized weights"
        if uses[weight.data_ptr()] > 1:
            # Merging into a tied weight would change the layers it is tied to as well.
            return f"{name}'s weight is tied to another layer"
    return None


class MergedWeights:
    """Merges one LoRA adapter at a time into the base linears, from a pristine copy.

    Merging adds the adapter's delta B·A·scale to W; unmerging by subtracting it again leaves
    a rounding residue that grows with every switch. So the base weight of every layer a
    mergeable adapter adapts is copied once, and merging writes pristine + delta (restoring
    writes pristine): the weights are bit-for-bit the same after any number of switches.
    PEFT's own merge bookkeeping (merged_adapters) is never touched, so PEFT never tries to
    unmerge; the caller disables the LoRA layers while a merged adapter runs, so a forward
    pass costs what the base model's does. The copies cost one more base weight per layer.
    """

    def __init__(self) -> None:
        self._layers: dict[str, tuple[Any, torch.Tensor]] = {}  # name -> (LoRA layer, pristine)
        self._mergeable: set[str] = set()
        self._merged: str | None = None

    @property
    def merged(self) -> str | None:
        """Return the adapter now merged into the weights, None when they are pristine."""
        return self._merged

    def mergeable(self, adapter: str) -> bool:
        """Return whether adapter is served merged."""
        return adapter in self._mergeable

    @torch.no_grad()
    def add(self, model: Any, adapter: str) -> bool:
        """Decide whether a newly loaded adapter is merged; call only while weights are pristine."""
        if self._merged is not None:
            raise RuntimeError(f"adapter {self._merged!r} is merged; restore() first")
        reason = unmergeable_reason(model, adapter)
        if reason is not None:
            self._mergeable.discard(adapter)
            logger.info("adapter %s is served unmerged: %s", adapter, reason)
            return False
        for name, layer in _lora_layers(model, adapter):
            if name not in self._layers:
                self._layers[name] = (layer, layer.get_base_layer().weight.detach().clone())
        self._mergeable.add(adapter)
        logger.info("adapter %s is served merged into the base weights", adapter)
        return True

    @torch.no_grad()
    def merge(self, adapter: str | None) -> None:
        """Make the weights pristine plus adapter's delta (None: pristine)."""
        if adapter is not None and adapter not in self._mergeable:
            raise KeyError(f"adapter {adapter!r} is not mergeable")
        if adapter == self._merged:
            return
        for layer, pristine in self._layers.values():
            weight = layer.get_base_layer().weight
            if adapter is not None and adapter in layer.lora_A:
                delta = layer.get_delta_weight(adapter)
                # Summed in the wider dtype, then rounded once to the weight's.
                wide = torch.promote_types(pristine.dtype, delta.dtype)
                weight.copy_(pristine.to(wide) + delta.to(wide))
            elif self._merged is not None and self._merged in layer.lora_A:
                weight.copy_(pristine)
        self._merged = adapter

    def restore(self) -> None:
        """Make the weights pristine again."""
        self.merge(None)

    def forget(self, adapter: str) -> None:
        """Restore if adapter is merged and drop copies no other adapter needs; before deleting."""
        if self._merged == adapter:
            self.restore()
        self._mergeable.discard(adapter)
        for name, (layer, _) in list(self._layers.items()):
            if not self._mergeable.intersection(layer.lora_A):
                del self._layers[name]

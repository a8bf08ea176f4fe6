"""The adapter card (melancia_adapter.json) written next to every adapter, and its load check.

Serving must render prompts exactly as training did. Training saves the chat template it used
next to the adapter (chat_template.jinja) and records the template's version in the card; the
inference loader calls `check_template` with the tokenizer it will serve with.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

logger = logging.getLogger(__name__)

CARD_NAME = "melancia_adapter.json"
TEMPLATE_FILE = "chat_template.jinja"


class TemplateMismatch(RuntimeError):
    """The tokenizer would render prompts differently from how the adapter was trained."""


def template_version(template: str) -> str:
    """Short content hash of a chat template (the same formula as prompting.TEMPLATE_VERSION)."""
    return hashlib.sha256(template.encode("utf-8")).hexdigest()[:12]


class AdapterCard(BaseModel):
    """What an adapter is: base model, method, data, template, recipe and its figures."""

    model_config = ConfigDict(extra="allow")
    name: str
    base_model: str
    method: str
    dataset_version: str
    template_version: str
    system_prompt_sha256: str | None = None
    dataset_hashes: dict[str, str] = Field(default_factory=dict)
    recipe: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    job_id: str | None = None
    run_id: str | None = None
    steps: int | None = None
    train_runtime_s: float | None = None
    resumed_from_step: int | None = None
    created_at: str | None = None
    libraries: dict[str, str] = Field(default_factory=dict)
    probe: dict[str, Any] | None = Field(
        default=None, description="top next-token logits of the trained model on one prompt"
    )


def write_card(adapter_dir: Path, card: AdapterCard) -> Path:
    """Write the card into adapter_dir."""
    path = Path(adapter_dir) / CARD_NAME
    path.write_text(card.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return path


def read_card(adapter_dir: Path) -> AdapterCard | None:
    """The card of an adapter directory, or None for an adapter trained elsewhere."""
    path = Path(adapter_dir) / CARD_NAME
    if not path.is_file():
        return None
    return AdapterCard.model_validate_json(path.read_text(encoding="utf-8"))


def saved_template(adapter_dir: Path) -> str | None:
    """The chat template saved with the adapter, if any."""
    adapter_dir = Path(adapter_dir)
    jinja = adapter_dir / TEMPLATE_FILE
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    config = adapter_dir / "tokenizer_config.json"
    if config.is_file():
        template = json.loads(config.read_text(encoding="utf-8")).get("chat_template")
        return template if isinstance(template, str) else None
    return None


def check_template(
    adapter_dir: Path, tokenizer: Any, *, default_template: str | None = None
) -> AdapterCard | None:
    """Make sure `tokenizer` renders prompts with the template the adapter was trained with.

    A tokenizer without a template of its own gets the one saved with the adapter (else
    `default_template`, what serving would fall back to). Raises TemplateMismatch when the
    template serving would use is not the adapter's. Returns the card (None: no card to check).
    """
    card = read_card(adapter_dir)
    saved = saved_template(adapter_dir)
    if not getattr(tokenizer, "chat_template", None) and (saved or default_template):
        tokenizer.chat_template = saved or default_template
    if card is None:
        logger.warning(
            "adapter %s has no %s; its chat template is unchecked", adapter_dir, CARD_NAME
        )
        return None
    template = getattr(tokenizer, "chat_template", None)
    if not isinstance(template, str):
        raise TemplateMismatch(
            f"adapter {adapter_dir} was trained with chat template {card.template_version}, "
            "but the tokenizer has no chat template to serve it with"
        )
    found = template_version(template)
    if found != card.template_version:
        raise TemplateMismatch(
            f"adapter {adapter_dir} was trained with chat template {card.template_version}, "
            f"but serving would render prompts with template {found}: retrain the adapter or "
            "serve it with the tokenizer it was trained with"
        )
    return card

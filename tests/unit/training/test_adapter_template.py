"""The chat template travels with the adapter and is checked when serving loads it."""

from pathlib import Path
from types import SimpleNamespace

import pytest

from workers.inference.prompting import CHAT_TEMPLATE, TEMPLATE_VERSION
from workers.registry.adapters import (
    TEMPLATE_FILE,
    AdapterCard,
    TemplateMismatch,
    check_template,
    template_version,
    write_card,
)


def _adapter(tmp_path: Path, template: str = CHAT_TEMPLATE) -> Path:
    (tmp_path / TEMPLATE_FILE).write_text(template)
    write_card(
        tmp_path,
        AdapterCard(
            name="a",
            base_model="gemma3-270m",
            method="lora",
            dataset_version="ds-1",
            template_version=template_version(template),
        ),
    )
    return tmp_path


def test_the_version_formula_is_the_serving_side_one() -> None:
    assert template_version(CHAT_TEMPLATE) == TEMPLATE_VERSION


def test_a_tokenizer_without_template_gets_the_adapters_own(tmp_path: Path) -> None:
    tokenizer = SimpleNamespace(chat_template=None)
    card = check_template(_adapter(tmp_path), tokenizer)
    assert tokenizer.chat_template == CHAT_TEMPLATE
    assert card is not None and card.template_version == TEMPLATE_VERSION


def test_a_tokenizer_with_the_same_template_passes(tmp_path: Path) -> None:
    assert check_template(_adapter(tmp_path), SimpleNamespace(chat_template=CHAT_TEMPLATE))


def test_a_different_template_is_refused(tmp_path: Path) -> None:
    tokenizer = SimpleNamespace(chat_template="{{ messages }}")
    with pytest.raises(TemplateMismatch, match=TEMPLATE_VERSION):
        check_template(_adapter(tmp_path), tokenizer)


def test_a_card_whose_template_file_went_missing_falls_back_and_is_still_checked(
    tmp_path: Path,
) -> None:
    adapter = _adapter(tmp_path)
    (adapter / TEMPLATE_FILE).unlink()
    tokenizer = SimpleNamespace(chat_template=None)
    check_template(adapter, tokenizer, default_template=CHAT_TEMPLATE)
    assert tokenizer.chat_template == CHAT_TEMPLATE
    with pytest.raises(TemplateMismatch):
        check_template(adapter, SimpleNamespace(chat_template=None), default_template="other")


def test_an_adapter_without_card_is_not_checked(tmp_path: Path) -> None:
    assert check_template(tmp_path, SimpleNamespace(chat_template="x")) is None

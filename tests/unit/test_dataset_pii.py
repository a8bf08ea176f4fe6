"""PII scrubbing: emails, CPF, CNPJ and phone numbers become placeholders; money does not."""

from __future__ import annotations

import pytest

from data.pipeline.pii import (
    ScrubReport,
    find_pii,
    scrub,
    scrub_record_texts,
    valid_cnpj,
    valid_cpf,
)


@pytest.mark.parametrize(
    ("text", "placeholder"),
    [
        ("Escreva para maria.souza@loja.com.br hoje", "[EMAIL]"),
        ("CPF 529.982.247-25 do cliente", "[CPF]"),
        ("CPF 52998224725 do cliente", "[CPF]"),
        ("CNPJ 11.222.333/0001-81 da loja", "[CNPJ]"),
        ("CNPJ 11222333000181 da loja", "[CNPJ]"),
        ("Ligue (11) 98765-4321 amanhã", "[TELEFONE]"),
        ("Ligue +55 21 3456-7890 amanhã", "[TELEFONE]"),
        ("WhatsApp 11 91234-5678, por favor", "[TELEFONE]"),
    ],
)
def test_pii_is_replaced(text: str, placeholder: str) -> None:
    clean, found = scrub(text)
    assert placeholder in clean and len(found) == 1
    assert not find_pii(clean)


@pytest.mark.parametrize(
    "text",
    [
        "Investi R$ 1.234,56 e tive 120.000 impressões em 2025.",
        "ACOS = 500 / 2.000 × 100 = 25%; CPC de R$ 0,60 com 12.345 cliques",
        "O pedido 12345678901 não tem dígitos válidos de CPF.",
    ],
)
def test_numbers_that_are_not_pii_are_kept(text: str) -> None:
    assert scrub(text) == (text, [])


def test_check_digits() -> None:
    assert valid_cpf("529.982.247-25") and not valid_cpf("529.982.247-26")
    assert valid_cnpj("11.222.333/0001-81") and not valid_cnpj("11.222.333/0001-82")
    assert not valid_cpf("111.111.111-11")


def test_report_names_the_record() -> None:
    report = ScrubReport()
    out = scrub_record_texts("rec-1", {"answer": "Fale com a@b.com ou (11) 3333-4444."}, report)
    assert out["answer"] == "Fale com [EMAIL] ou [TELEFONE]."
    assert report.total == 2 and report.records == {"rec-1": ["answer:email", "answer:telefone"]}

"""Find and replace personal data (emails, CPF, CNPJ, phone numbers) with placeholders."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
CNPJ = re.compile(r"(?<![\d.])(?:\d{2}\.\d{3}\.\d{3}/\d{4}-\d{2}|\d{14})(?!\d|,\d)")
CPF = re.compile(r"(?<![\d.])(?:\d{3}\.\d{3}\.\d{3}-\d{2}|\d{11})(?!\d|,\d)")
# DDD in parentheses or after +55, then 8 or 9 digits with an optional hyphen or space.
PHONE = re.compile(
    r"(?<![\w$])(?:\+55\s?)?(?:\(\d{2}\)\s?|\d{2}\s)(?:9\s?)?\d{4}[-\s]?\d{4}(?!\d|,\d)"
)
PLACEHOLDERS = {"email": "[EMAIL]", "cnpj": "[CNPJ]", "cpf": "[CPF]", "telefone": "[TELEFONE]"}


def _digits(text: str) -> list[int]:
    return [int(c) for c in text if c.isdigit()]


def valid_cpf(text: str) -> bool:
    """Check the two CPF verification digits."""
    d = _digits(text)
    if len(d) != 11 or len(set(d)) == 1:
        return False
    for size in (9, 10):
        total = sum(v * w for v, w in zip(d[:size], range(size + 1, 1, -1), strict=True))
        if (total * 10 % 11) % 10 != d[size]:
            return False
    return True


def valid_cnpj(text: str) -> bool:
    """Check the two CNPJ verification digits."""
    d = _digits(text)
    if len(d) != 14 or len(set(d)) == 1:
        return False
    weights = [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
    for size in (12, 13):
        total = sum(v * w for v, w in zip(d[:size], weights[13 - size :], strict=True))
        check = 11 - total % 11
        if (0 if check >= 10 else check) != d[size]:
            return False
    return True


def _is_pii(kind: str, match: str) -> bool:
    # Bare digit runs are only PII when the check digits are valid; formatted ones always are.
    if kind == "cpf" and match.isdigit():
        return valid_cpf(match)
    if kind == "cnpj" and match.isdigit():
        return valid_cnpj(match)
    return True


@dataclass
class ScrubReport:
    """What the scrubber replaced, by kind and by record."""

    by_kind: Counter[str] = field(default_factory=Counter)
    records: dict[str, list[str]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Return the number of replacements."""
        return sum(self.by_kind.values())


def scrub(text: str) -> tuple[str, list[tuple[str, str]]]:
    """Replace personal data with placeholders; return the new text and (kind, match) pairs."""
    found: list[tuple[str, str]] = []
    # CNPJ before CPF before phone: the longer digit patterns must win over their prefixes.
    for kind, pattern in (("email", EMAIL), ("cnpj", CNPJ), ("cpf", CPF), ("telefone", PHONE)):

        def _replace(m: re.Match[str], k: str = kind) -> str:
            if not _is_pii(k, m.group()):
                return m.group()
            found.append((k, m.group()))
            return PLACEHOLDERS[k]

        text = pattern.sub(_replace, text)
    return text, found


def find_pii(text: str) -> list[tuple[str, str]]:
    """Return (kind, matched text) for each piece of personal data in text."""
    return scrub(text)[1]


def scrub_record_texts(
    record_id: str, texts: dict[str, str], report: ScrubReport
) -> dict[str, str]:
    """Scrub each named text of one record, recording what was replaced."""
    out: dict[str, str] = {}
    for name, text in texts.items():
        clean, found = scrub(text)
        out[name] = clean
        if found:
            report.by_kind.update(kind for kind, _ in found)
            report.records.setdefault(record_id, []).extend(f"{name}:{k}" for k, _ in found)
    return out

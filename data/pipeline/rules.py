"""Per-record validation rules: schema, lengths, language, PII, provenance."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from data.pipeline.models import ChatRecord, InstructionRecord
from data.pipeline.pii import find_pii
from data.pipeline.prompts import SYSTEM_PROMPT
from data.pipeline.text import stopword_ratios

QUESTION_CHARS = (5, 1000)
ANSWER_CHARS = (40, 3000)
CONTEXT_MAX_CHARS = 1200
PT_MIN_RATIO = 0.08  # share of Portuguese stop words in question + answer
PT_OVER_EN = 3.0  # Portuguese stop words must outnumber English ones by this factor

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Issue:
    """One validation failure, naming the file, the record and the rule."""

    rule: str
    message: str
    record_id: str | None = None
    where: str = ""

    def __str__(self) -> str:
        record = f"record {self.record_id}: " if self.record_id else ""
        where = f"{self.where}: " if self.where else ""
        return f"{where}{record}[{self.rule}] {self.message}"


def read_jsonl(path: Path, model: type[M]) -> tuple[list[M], list[Issue]]:
    """Parse a JSONL file into models; bad lines become schema issues."""
    records: list[M] = []
    issues: list[Issue] = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path.parent.name}/{path.name}:{lineno}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            issues.append(Issue("schema", f"invalid JSON: {exc}", None, where))
            continue
        rid = str(raw.get("id")) if isinstance(raw, dict) and raw.get("id") else f"line {lineno}"
        try:
            records.append(model.model_validate(raw))
        except ValidationError as exc:
            detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            issues.append(Issue("schema", detail, rid, where))
    return records, issues


def _length(rid: str, name: str, text: str, bounds: tuple[int, int], where: str) -> list[Issue]:
    lo, hi = bounds
    if lo <= len(text) <= hi:
        return []
    return [Issue("length", f"{name} has {len(text)} chars, allowed {lo}-{hi}", rid, where)]


def check_language(rid: str, text: str, where: str) -> list[Issue]:
    """Require Brazilian Portuguese: enough pt stop words and far more than en ones."""
    pt, en = stopword_ratios(text)
    if pt >= PT_MIN_RATIO and pt >= PT_OVER_EN * en:
        return []
    return [
        Issue(
            "language",
            f"does not look Portuguese (pt stop words {pt:.2f}, en {en:.2f})",
            rid,
            where,
        )
    ]


def check_pii(rid: str, texts: dict[str, str], where: str) -> list[Issue]:
    """Report any personal data left in the texts."""
    found = [f"{name}: {kind}" for name, text in texts.items() for kind, _ in find_pii(text)]
    return [Issue("pii", f"personal data found ({', '.join(found)})", rid, where)] if found else []


def check_chat(
    record: ChatRecord, split: str, where: str, manifest: dict[str, tuple[str, str]]
) -> list[Issue]:
    """Apply the record-level rules to a chat record."""
    rid, meta = record.id, record.metadata
    issues = []
    if record.messages[0].content != SYSTEM_PROMPT:
        issues.append(
            Issue("system-prompt", "system message differs from SYSTEM_PROMPT", rid, where)
        )
    if meta.split != split:
        issues.append(
            Issue("split-field", f"metadata.split={meta.split!r} in {split} file", rid, where)
        )
    issues += _length(rid, "question", record.question, QUESTION_CHARS, where)
    issues += _length(rid, "answer", record.answer, ANSWER_CHARS, where)
    issues += check_language(rid, f"{record.question}\n{record.answer}", where)
    issues += check_pii(rid, {"question": record.question, "answer": record.answer}, where)
    if manifest:
        expected = manifest.get(meta.source_article)
        if expected is None:
            issues.append(
                Issue("unknown-article", f"{meta.source_article} not in MANIFEST.md", rid, where)
            )
        elif expected != (meta.category, meta.difficulty):
            issues.append(
                Issue(
                    "metadata-mismatch",
                    f"{meta.category}/{meta.difficulty} but "
                    f"MANIFEST.md says {expected[0]}/{expected[1]}",
                    rid,
                    where,
                )
            )
    return issues


def check_instruction(record: InstructionRecord, split: str, where: str) -> list[Issue]:
    """Apply the record-level rules to an instruction record."""
    rid = record.id
    issues = []
    if record.metadata.split != split:
        issues.append(
            Issue(
                "split-field",
                f"metadata.split={record.metadata.split!r} in {split} file",
                rid,
                where,
            )
        )
    issues += _length(rid, "instruction", record.instruction, QUESTION_CHARS, where)
    issues += _length(rid, "output", record.output, ANSWER_CHARS, where)
    issues += _length(rid, "context", record.context, (0, CONTEXT_MAX_CHARS), where)
    issues += check_pii(
        rid,
        {"instruction": record.instruction, "output": record.output, "context": record.context},
        where,
    )
    return issues

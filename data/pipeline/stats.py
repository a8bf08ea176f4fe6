"""Dataset statistics: balance tables, length histograms and distinct-n diversity."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Sequence

from data.pipeline.models import CATEGORIES, DIFFICULTIES, ChatRecord
from data.pipeline.text import ngrams, words

QUESTION_BINS: tuple[int, ...] = (0, 25, 50, 75, 100, 150, 200, 300)
ANSWER_BINS: tuple[int, ...] = (0, 100, 200, 300, 400, 500, 700, 1000)


def distinct_n(texts: Iterable[str], n: int) -> float:
    """Share of distinct word n-grams among all n-grams of the texts (0 if none)."""
    grams: Counter[tuple[str, ...]] = Counter()
    for text in texts:
        grams.update(ngrams(words(text), n))
    total = sum(grams.values())
    return len(grams) / total if total else 0.0


def histogram(values: Sequence[int], bins: Sequence[int]) -> list[tuple[str, int]]:
    """Count values per [bins[i], bins[i+1]) bucket, the last bucket open-ended."""
    labels = [f"{lo}-{hi - 1}" for lo, hi in itertools.pairwise(bins)]
    labels.append(f"{bins[-1]}+")
    counts = [0] * len(labels)
    for value in values:
        index = sum(1 for edge in bins[1:] if value >= edge)
        counts[index] += 1
    return list(zip(labels, counts, strict=True))


def render_histogram(rows: list[tuple[str, int]], width: int = 40) -> str:
    """Draw a histogram as text bars."""
    peak = max((c for _, c in rows), default=0) or 1
    pad = max((len(label) for label, _ in rows), default=0)
    return "\n".join(
        f"{label.rjust(pad)} | {'#' * round(width * c / peak)} {c}" for label, c in rows
    )


def balance(records: Iterable[ChatRecord]) -> dict[str, dict[str, int]]:
    """Count records by category and difficulty."""
    table = {c: dict.fromkeys(DIFFICULTIES, 0) for c in CATEGORIES}
    for record in records:
        table[record.metadata.category][record.metadata.difficulty] += 1
    return table


def render_balance(table: dict[str, dict[str, int]]) -> str:
    """Render the category x difficulty table as Markdown."""
    head = "| category | " + " | ".join(DIFFICULTIES) + " | total |"
    sep = "|---|" + "---:|" * (len(DIFFICULTIES) + 1)
    rows = [head, sep]
    totals = dict.fromkeys(DIFFICULTIES, 0)
    for category, row in table.items():
        for d in DIFFICULTIES:
            totals[d] += row[d]
        cells = " | ".join(str(row[d]) for d in DIFFICULTIES)
        rows.append(f"| {category} | {cells} | {sum(row.values())} |")
    cells = " | ".join(str(totals[d]) for d in DIFFICULTIES)
    rows.append(f"| **total** | {cells} | {sum(totals.values())} |")
    return "\n".join(rows)


def counts_by(records: Iterable[ChatRecord], field: str) -> dict[str, int]:
    """Count records by one metadata field, sorted by key."""
    return dict(sorted(Counter(getattr(r.metadata, field) for r in records).items()))


def describe(records: Sequence[ChatRecord]) -> dict[str, object]:
    """Summarise a list of records: counts, lengths and diversity."""
    questions = [r.question for r in records]
    answers = [r.answer for r in records]
    originals = [r.question for r in records if r.metadata.phrasing == "original"]
    return {
        "records": len(records),
        "base_questions": len({r.metadata.base_id for r in records}),
        "by_category": counts_by(records, "category"),
        "by_difficulty": counts_by(records, "difficulty"),
        "by_question_type": counts_by(records, "question_type"),
        "by_phrasing": counts_by(records, "phrasing"),
        "distinct_1_questions": round(distinct_n(questions, 1), 4),
        "distinct_2_questions": round(distinct_n(questions, 2), 4),
        # Over original phrasings only: augmentation repeats n-grams by design.
        "distinct_2_base_questions": round(distinct_n(originals, 2), 4),
        "distinct_1_answers": round(distinct_n(set(answers), 1), 4),
        "distinct_2_answers": round(distinct_n(set(answers), 2), 4),
        "question_chars": histogram([len(q) for q in questions], QUESTION_BINS),
        "answer_chars": histogram([len(a) for a in answers], ANSWER_BINS),
    }

"""Turn base questions into chat and instruction records, one pair per phrasing."""

from __future__ import annotations

from dataclasses import dataclass

from data.pipeline.models import (
    Article,
    BaseQuestion,
    ChatRecord,
    InstructionRecord,
    Message,
    RecordMetadata,
)
from data.pipeline.prompts import SYSTEM_PROMPT


@dataclass(frozen=True)
class Phrased:
    """One phrasing of a base question, with everything needed to emit both formats."""

    base: BaseQuestion
    index: int
    style: str
    question: str
    context: str

    @property
    def record_id(self) -> str:
        """Return the record id: base id plus phrasing index."""
        return f"{self.base.base_id}-p{self.index}"


def faq_bases(article: Article) -> list[BaseQuestion]:
    """Return one base question per hand-written faq entry of an article."""
    return [
        BaseQuestion(
            base_id=f"{article.id}-faq{i:02d}",
            group_id=f"{article.id}-faq{i:02d}",
            question=entry.q,
            answer=entry.a,
            question_type=entry.type,
            article_id=article.id,
            category=article.category,
            difficulty=article.difficulty,
        )
        for i, entry in enumerate(article.faq)
    ]


def _metadata(item: Phrased, split: str | None) -> RecordMetadata:
    base = item.base
    # model_validate checks the split name at runtime (callers pass plain strings).
    return RecordMetadata.model_validate(
        {
            "source_article": base.article_id,
            "category": base.category,
            "difficulty": base.difficulty,
            "question_type": base.question_type,
            "base_id": base.base_id,
            "group_id": base.group_id,
            "phrasing": item.style,
            "split": split,
        }
    )


def to_chat(item: Phrased, split: str | None = None) -> ChatRecord:
    """Build the chat record (system prompt, question, answer)."""
    return ChatRecord(
        id=item.record_id,
        messages=[
            Message(role="system", content=SYSTEM_PROMPT),
            Message(role="user", content=item.question),
            Message(role="assistant", content=item.base.answer),
        ],
        metadata=_metadata(item, split),
    )


def to_instruction(item: Phrased, split: str | None = None) -> InstructionRecord:
    """Build the instruction record; input stays empty, the passage goes to context."""
    return InstructionRecord(
        id=item.record_id,
        instruction=item.question,
        input="",
        output=item.base.answer,
        context=item.context,
        metadata=_metadata(item, split),
    )

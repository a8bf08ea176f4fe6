"""Pydantic models of corpus articles, benchmark items and dataset records."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

CATEGORIES: tuple[str, ...] = (
    "metricas",
    "plataformas",
    "lances_orcamento",
    "palavras_chave",
    "anuncios_catalogo",
    "sazonalidade",
    "troubleshooting",
    "estrategia",
)
DIFFICULTIES: tuple[str, ...] = ("basico", "intermediario", "avancado")
FAQ_TYPES: tuple[str, ...] = ("concept", "how-to", "comparison", "troubleshooting", "strategy")
QUESTION_TYPES: tuple[str, ...] = (*FAQ_TYPES, "exercise")

Category = Literal[
    "metricas",
    "plataformas",
    "lances_orcamento",
    "palavras_chave",
    "anuncios_catalogo",
    "sazonalidade",
    "troubleshooting",
    "estrategia",
]
Difficulty = Literal["basico", "intermediario", "avancado"]
FaqType = Literal["concept", "how-to", "comparison", "troubleshooting", "strategy"]
QuestionType = Literal["concept", "how-to", "comparison", "troubleshooting", "strategy", "exercise"]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
ArticleId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$")]


class FaqEntry(BaseModel):
    """One hand-written question/answer pair of an article."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: FaqType
    q: Text
    a: Text


class Article(BaseModel):
    """A parsed corpus article: front matter plus Markdown body."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: ArticleId
    title: Text
    category: Category
    difficulty: Difficulty
    tags: list[str] = Field(default_factory=list)
    related: list[str] = Field(default_factory=list)
    faq: list[FaqEntry] = Field(min_length=1)
    body: Text
    path: Path
    content_hash: str


class BenchmarkItem(BaseModel):
    """One evaluation question of data/benchmark/*.jsonl."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: Text
    question: Text
    reference_answer: Text
    category: Category
    difficulty: Difficulty
    keywords: list[str] = Field(default_factory=list)
    article_id: str | None = None
    question_type: Text


class Message(BaseModel):
    """One chat message."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    role: Literal["system", "user", "assistant"]
    content: Text


class RecordMetadata(BaseModel):
    """Provenance of a dataset record, shared by the chat and instruction formats."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    source_article: ArticleId
    category: Category
    difficulty: Difficulty
    question_type: QuestionType
    base_id: Text  # all phrasings of one base question share it; splits group on it
    group_id: Text  # split unit: the base question, or the exercise template
    phrasing: Text  # original, formal, informal, typo, noaccent or llm
    split: Literal["train", "val", "test"] | None = None


class ChatRecord(BaseModel):
    """A training record in chat format (system, user, assistant)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: Text
    messages: list[Message] = Field(min_length=3, max_length=3)
    metadata: RecordMetadata

    @model_validator(mode="after")
    def _roles_in_order(self) -> ChatRecord:
        roles = [m.role for m in self.messages]
        if roles != ["system", "user", "assistant"]:
            raise ValueError(f"messages must be system, user, assistant; got {roles}")
        return self

    @property
    def question(self) -> str:
        """Return the user message."""
        return self.messages[1].content

    @property
    def answer(self) -> str:
        """Return the assistant message."""
        return self.messages[2].content


class InstructionRecord(BaseModel):
    """A record in instruction format (instruction, input, output, context)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: Text
    instruction: Text
    input: str = ""
    output: Text
    context: str = ""
    metadata: RecordMetadata


class BaseQuestion(BaseModel):
    """A question with its canonical answer, before phrasing augmentation."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    base_id: Text
    group_id: Text
    question: Text
    answer: Text
    question_type: QuestionType
    article_id: ArticleId
    category: Category
    difficulty: Difficulty

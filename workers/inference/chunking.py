"""Cutting corpus articles into overlapping, titled passages for retrieval."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from data.pipeline.models import Article

# Bump when chunking changes: every article's fingerprint changes, so the next index build
# re-embeds everything instead of mixing passages cut two different ways.
CHUNKER_VERSION = "1"
DEFAULT_WORDS = 120
DEFAULT_OVERLAP = 30


@dataclass(frozen=True, slots=True)
class Chunk:
    """One retrievable passage; `text` carries the article title so it stands on its own."""

    article_id: str
    index: int
    title: str
    category: str
    section: str
    kind: Literal["body", "faq"]
    text: str


def sections(body: str) -> list[tuple[str, str]]:
    """(heading, text) for each Markdown section; text before any heading has heading ''."""
    found: list[tuple[str, str]] = []
    heading, lines = "", list[str]()
    for line in body.splitlines():
        if line.lstrip().startswith("#"):
            if lines:
                found.append((heading, " ".join(lines)))
            heading, lines = line.strip().lstrip("#").strip(), []
        elif line.strip():
            lines.append(line.strip())
    if lines:
        found.append((heading, " ".join(lines)))
    return found


def windows(words: list[str], size: int, overlap: int) -> list[list[str]]:
    """Overlapping word windows; the last window is never a mere tail of the previous one."""
    if size < 1 or not 0 <= overlap < size:
        raise ValueError("need size >= 1 and 0 <= overlap < size")
    if len(words) <= size:
        return [words] if words else []
    step = size - overlap
    starts = list(range(0, len(words) - overlap, step))
    return [words[s : s + size] for s in starts]


def chunk_article(
    article: Article, *, size: int = DEFAULT_WORDS, overlap: int = DEFAULT_OVERLAP
) -> list[Chunk]:
    """Body sections cut into overlapping windows, plus one passage per FAQ pair."""
    chunks: list[Chunk] = []

    def add(section: str, kind: Literal["body", "faq"], text: str) -> None:
        chunks.append(
            Chunk(article.id, len(chunks), article.title, article.category, section, kind, text)
        )

    for heading, text in sections(article.body):
        # The H1 repeats the title; other headings give the passage its topic.
        label = article.title if not heading or heading == article.title else heading
        prefix = article.title if label == article.title else f"{article.title} — {label}"
        for words in windows(text.split(), size, overlap):
            add(label, "body", f"{prefix}\n{' '.join(words)}")
    # The hand-written FAQ pairs are part of the article and match how people ask.
    for entry in article.faq:
        add(
            "Perguntas frequentes",
            "faq",
            f"{article.title}\nPergunta: {entry.q}\nResposta: {entry.a}",
        )
    return chunks


def fingerprint(article: Article, *, embedder_id: str, size: int, overlap: int) -> str:
    """Changes when the article, the chunking or the embedding model changes."""
    key = f"{article.content_hash}|{CHUNKER_VERSION}|{size}|{overlap}|{embedder_id}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]

"""Hybrid retrieval: dense cosine plus a BM25 boost, best passage per article, a scope gate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from qdrant_client import QdrantClient, models

from schemas.common import Source
from workers.inference.embedding import Embedder
from workers.inference.index import DENSE, LEXICAL
from workers.inference.lexical import query_weights

SNIPPET_CHARS = 240


@dataclass(frozen=True, slots=True)
class Candidate:
    """A passage with its two raw scores; `dense` is a cosine, `lexical` a BM25 score."""

    point_id: str
    article_id: str
    title: str
    section: str
    text: str
    dense: float
    lexical: float = 0.0


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrieved passage with its fused score."""

    candidate: Candidate
    score: float

    @property
    def article_id(self) -> str:
        return self.candidate.article_id

    @property
    def text(self) -> str:
        return self.candidate.text

    def as_source(self) -> Source:
        body = self.candidate.text.split("\n", 1)[-1]  # drop the title line the passage carries
        snippet = body if len(body) <= SNIPPET_CHARS else body[: SNIPPET_CHARS - 1].rstrip() + "…"
        return Source(
            article_id=self.article_id,
            title=self.candidate.title,
            snippet=snippet,
            score=round(self.score, 4),
        )


@dataclass(frozen=True, slots=True)
class Retrieval:
    """The passages for one query; `in_scope` is False when nothing is close enough."""

    passages: list[Passage]
    best_dense: float
    in_scope: bool


def fuse(candidates: Mapping[str, Candidate], *, lexical_weight: float) -> list[Passage]:
    """Score = cosine + weight x BM25 / best BM25 of this query; highest first.

    Dense similarity carries meaning across paraphrases; the lexical boost rewards passages
    that share the question's rare terms (metric names, platform names), which short
    questions full of numbers rely on. Normalizing BM25 by the query's best keeps the boost
    in [0, weight] whatever the query length.
    """
    top = max((c.lexical for c in candidates.values()), default=0.0)
    scored = [
        Passage(c, c.dense + (lexical_weight * c.lexical / top if top > 0 else 0.0))
        for c in candidates.values()
    ]
    scored.sort(key=lambda p: (-p.score, p.candidate.point_id))
    return scored


def best_per_article(passages: list[Passage], k: int) -> list[Passage]:
    """The k best articles, each represented by its best passage (input sorted by score)."""
    chosen: dict[str, Passage] = {}
    for passage in passages:
        chosen.setdefault(passage.article_id, passage)
        if len(chosen) == k:
            break
    return list(chosen.values())


class Retriever:
    """Searches one collection with a dense and a lexical query and fuses the results."""

    def __init__(
        self,
        client: QdrantClient,
        collection: str,
        embedder: Embedder,
        *,
        top_k: int = 3,
        min_score: float = 0.25,
        lexical_weight: float = 0.3,
        candidates: int = 24,
    ) -> None:
        self.client = client
        self.collection = collection
        self.embedder = embedder
        self.top_k = top_k
        self.min_score = min_score
        self.lexical_weight = lexical_weight
        self.candidates = candidates

    def search(self, query: str, *, k: int | None = None) -> Retrieval:
        """The k (default top_k) best articles for query; out of scope below min_score."""
        found = self.candidates_for(query)
        ranked = fuse(found, lexical_weight=self.lexical_weight)
        best_dense = max((c.dense for c in found.values()), default=0.0)
        return Retrieval(
            passages=best_per_article(ranked, k or self.top_k),
            best_dense=best_dense,
            in_scope=best_dense >= self.min_score,
        )

    def candidates_for(
        self, query: str, *, dense: bool = True, lexical: bool = True
    ) -> dict[str, Candidate]:
        """Top passages by cosine and by BM25, each with both scores."""
        vector = self.embedder.embed([query])[0]
        found: dict[str, Candidate] = {}
        if dense:
            hits = self.client.query_points(
                self.collection,
                query=vector.tolist(),
                using=DENSE,
                limit=self.candidates,
                with_payload=True,
            ).points
            for hit in hits:
                found[str(hit.id)] = _candidate(hit, dense=float(hit.score))
        sparse = query_weights(query)
        if lexical and sparse.indices:
            hits = self.client.query_points(
                self.collection,
                query=models.SparseVector(indices=sparse.indices, values=sparse.values),
                using=LEXICAL,
                limit=self.candidates,
                with_payload=True,
                with_vectors=[DENSE],
            ).points
            for hit in hits:
                # A lexical hit outside the dense top-N still gets its exact cosine.
                stored = hit.vector.get(DENSE) if isinstance(hit.vector, dict) else None
                cosine = (
                    float(np.dot(vector, np.asarray(stored, dtype=np.float32))) if stored else 0.0
                )
                known = found.get(str(hit.id))
                found[str(hit.id)] = _candidate(
                    hit, dense=known.dense if known else cosine, lexical=float(hit.score)
                )
        return found


def _candidate(hit: models.ScoredPoint, *, dense: float, lexical: float = 0.0) -> Candidate:
    payload = hit.payload or {}
    return Candidate(
        point_id=str(hit.id),
        article_id=str(payload["article_id"]),
        title=str(payload.get("title", "")),
        section=str(payload.get("section", "")),
        text=str(payload.get("text", "")),
        dense=dense,
        lexical=lexical,
    )

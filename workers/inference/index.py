"""The retrieval index in Qdrant: open it, build it incrementally, copy it into memory.

Layout: one collection, one point per passage, two named vectors — `dense` (the sentence
embedding, cosine) and `bm25` (sparse term weights, with Qdrant's IDF modifier) — and the
passage in the payload (article_id, title, category, section, kind, index, text) with the
article's `fingerprint`. Point ids are derived from (article_id, passage index), so a rebuild
overwrites rather than duplicates.

Qdrant's local mode lets one process open a path at a time. Workers therefore open the
on-disk store only for the moment it takes to bring it up to date and copy it into an
in-memory collection, then release it; any number of worker processes can start this way.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ApiException

from data.pipeline.models import Article
from workers.inference.chunking import Chunk, chunk_article, fingerprint
from workers.inference.embedding import Embedder
from workers.inference.lexical import document_weights

logger = logging.getLogger(__name__)

DENSE = "dense"
LEXICAL = "bm25"
_NAMESPACE = uuid.UUID("6f1c4a52-5d0e-4f8e-9a57-3c2b7e1d9a40")
_PAGE = 256


class IndexUnavailable(RuntimeError):
    """The index cannot be opened or is missing; the message says what to do."""


def point_id(article_id: str, index: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{article_id}:{index}"))


def open_store(
    *, url: str | None, path: Path, timeout_s: float = 5.0, lock_wait_s: float = 180.0
) -> QdrantClient:
    """A Qdrant server client (checked now) or the local on-disk store (waiting for its lock)."""
    if url:
        client = QdrantClient(url=url, timeout=int(max(timeout_s, 1)), check_compatibility=False)
        try:
            client.get_collections()
        except (ApiException, OSError) as exc:
            client.close()
            raise IndexUnavailable(
                f"Qdrant server at {url} is unreachable ({type(exc).__name__}: {exc}); "
                "start it, fix MELANCIA_QDRANT_URL, or unset it to use the local store"
            ) from exc
        return client
    deadline = time.monotonic() + lock_wait_s
    pause = 0.05
    while True:
        # Probe the lock first: opening the store loads every point before it tries the lock.
        if _lock_is_free(path):
            try:
                return QdrantClient(path=str(path))
            except RuntimeError as exc:
                if "already accessed" not in str(exc):
                    raise
        # Another process (a worker copying it, an index build) holds the store.
        if time.monotonic() > deadline:
            raise IndexUnavailable(
                f"local Qdrant store {path} is still busy after {lock_wait_s:g}s "
                "(another process holds it); use a Qdrant server for shared access"
            )
        time.sleep(pause)
        pause = min(pause * 2, 1.0)


def _lock_is_free(path: Path) -> bool:
    """Whether no process holds the local store's lock file (the one qdrant-client takes)."""
    import portalocker

    lock_file = path / ".lock"
    if not lock_file.exists():
        return True
    with lock_file.open("r+") as handle:
        try:
            portalocker.lock(
                handle, portalocker.LockFlags.EXCLUSIVE | portalocker.LockFlags.NON_BLOCKING
            )
        except portalocker.exceptions.LockException:
            return False
        portalocker.unlock(handle)
    return True


def ensure_collection(client: QdrantClient, name: str, dim: int, *, rebuild: bool = False) -> None:
    """Create the collection if missing; recreate it when asked or when the dimension differs."""
    if client.collection_exists(name):
        vectors = client.get_collection(name).config.params.vectors
        size = vectors[DENSE].size if isinstance(vectors, dict) and DENSE in vectors else None
        if not rebuild and size == dim:
            return
        logger.info("recreating collection %s (rebuild=%s, dim %s -> %s)", name, rebuild, size, dim)
        client.delete_collection(name)
    client.create_collection(
        name,
        vectors_config={DENSE: models.VectorParams(size=dim, distance=models.Distance.COSINE)},
        sparse_vectors_config={LEXICAL: models.SparseVectorParams(modifier=models.Modifier.IDF)},
    )
    if client.init_options.get("url") or client.init_options.get("host"):
        # Only a server uses payload indexes (deleting an article's passages filters on it).
        client.create_payload_index(name, "article_id", models.PayloadSchemaType.KEYWORD)


def _scroll(client: QdrantClient, name: str, **options: object) -> Iterator[models.Record]:
    offset = None
    while True:
        points, offset = client.scroll(name, limit=_PAGE, offset=offset, **options)  # type: ignore[arg-type]
        yield from points
        if offset is None:
            return


def indexed_fingerprints(client: QdrantClient, name: str) -> dict[str, str]:
    """article_id -> fingerprint of what the collection holds."""
    found: dict[str, str] = {}
    for point in _scroll(client, name, with_payload=["article_id", "fingerprint"]):
        payload = point.payload or {}
        found[str(payload["article_id"])] = str(payload.get("fingerprint", ""))
    return found


@dataclass
class IndexReport:
    """What one index update did."""

    articles: int = 0
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    chunks_embedded: int = 0
    points: int = 0
    embed_s: float = 0.0
    total_s: float = 0.0

    @property
    def chunks_per_s(self) -> float:
        return self.chunks_embedded / self.embed_s if self.embed_s > 0 else 0.0


def update_index(
    client: QdrantClient,
    name: str,
    articles: Sequence[Article],
    embedder: Embedder,
    *,
    size: int,
    overlap: int,
    rebuild: bool = False,
    batch: int = 64,
) -> IndexReport:
    """Bring the collection in line with the corpus, re-embedding only changed articles."""
    started = time.perf_counter()
    ensure_collection(client, name, embedder.dim, rebuild=rebuild)
    held = indexed_fingerprints(client, name)
    report = IndexReport(articles=len(articles))
    wanted = {
        a.id: fingerprint(a, embedder_id=embedder.model_id, size=size, overlap=overlap)
        for a in articles
    }
    report.removed = sorted(set(held) - set(wanted))
    changed = [a for a in articles if held.get(a.id) != wanted[a.id]]
    report.changed = [a.id for a in changed]
    for article_id in [*report.removed, *report.changed]:
        if article_id in held:
            client.delete(name, points_selector=_article_filter(article_id))
    chunks = [c for a in changed for c in chunk_article(a, size=size, overlap=overlap)]
    for start in range(0, len(chunks), batch):
        part = chunks[start : start + batch]
        t0 = time.perf_counter()
        vectors = embedder.embed([c.text for c in part])
        report.embed_s += time.perf_counter() - t0
        client.upsert(
            name,
            points=[
                _point(c, v.tolist(), wanted[c.article_id])
                for c, v in zip(part, vectors, strict=True)
            ],
        )
    report.chunks_embedded = len(chunks)
    report.points = client.count(name).count
    report.total_s = time.perf_counter() - started
    logger.info(
        "index %s: %d articles, %d changed, %d removed, %d passages embedded (%.1f/s), %d points",
        name,
        report.articles,
        len(report.changed),
        len(report.removed),
        report.chunks_embedded,
        report.chunks_per_s,
        report.points,
    )
    return report


def _article_filter(article_id: str) -> models.Filter:
    return models.Filter(
        must=[models.FieldCondition(key="article_id", match=models.MatchValue(value=article_id))]
    )


def _point(chunk: Chunk, vector: list[float], article_fingerprint: str) -> models.PointStruct:
    sparse = document_weights(chunk.text)
    return models.PointStruct(
        id=point_id(chunk.article_id, chunk.index),
        vector={
            DENSE: vector,
            LEXICAL: models.SparseVector(indices=sparse.indices, values=sparse.values),
        },
        payload={
            "article_id": chunk.article_id,
            "title": chunk.title,
            "category": chunk.category,
            "section": chunk.section,
            "kind": chunk.kind,
            "index": chunk.index,
            "text": chunk.text,
            "fingerprint": article_fingerprint,
        },
    )


def require_collection(client: QdrantClient, name: str, dim: int, *, where: str) -> int:
    """The number of points, or IndexUnavailable when the collection is missing or unusable."""
    if not client.collection_exists(name):
        raise IndexUnavailable(
            f"collection {name!r} does not exist in {where}; run `melancia index build` first"
        )
    vectors = client.get_collection(name).config.params.vectors
    size = vectors[DENSE].size if isinstance(vectors, dict) and DENSE in vectors else None
    if size != dim:
        raise IndexUnavailable(
            f"collection {name!r} in {where} holds {size}-d vectors, the embedder makes {dim}-d; "
            "run `melancia index build --rebuild`"
        )
    points = client.count(name).count
    if points == 0:
        raise IndexUnavailable(
            f"collection {name!r} in {where} is empty; run `melancia index build`"
        )
    return points


def copy_to_memory(source: QdrantClient, name: str, dim: int) -> QdrantClient:
    """An in-memory collection with every point of `name` (the per-worker snapshot)."""
    memory = QdrantClient(":memory:")
    ensure_collection(memory, name, dim)
    batch: list[models.PointStruct] = []
    for record in _scroll(source, name, with_payload=True, with_vectors=True):
        vector: Any = record.vector or {}  # as stored: named dense and sparse vectors
        batch.append(models.PointStruct(id=record.id, vector=vector, payload=record.payload))
        if len(batch) >= _PAGE:
            memory.upsert(name, points=batch)
            batch = []
    if batch:
        memory.upsert(name, points=batch)
    return memory


def open_index(
    *,
    url: str | None,
    path: Path,
    collection: str,
    embedder: Embedder,
    corpus: Callable[[], Sequence[Article]] | None,
    chunk_words: int,
    chunk_overlap: int,
) -> QdrantClient:
    """The client a worker searches: the server itself, or an in-memory copy of the local store.

    With `corpus`, the local store is first brought up to date (only changed articles are
    embedded, so this is cheap when nothing changed). A server is never written from here:
    several workers would race; `melancia index build` updates it.
    """
    if url:
        client = open_store(url=url, path=path)
        points = require_collection(client, collection, embedder.dim, where=f"Qdrant at {url}")
        logger.info("searching %s on Qdrant at %s (%d passages)", collection, url, points)
        return client
    store = open_store(url=None, path=path)
    try:
        if corpus is not None:
            try:
                articles = corpus()
            except ValueError as exc:  # a corpus file that does not parse
                logger.warning("corpus unreadable, index left as it is: %s", exc)
            else:
                update_index(
                    store, collection, articles, embedder, size=chunk_words, overlap=chunk_overlap
                )
        points = require_collection(store, collection, embedder.dim, where=f"local store {path}")
        memory = copy_to_memory(store, collection, embedder.dim)
    finally:
        store.close()
    logger.info("loaded %d passages of %s from %s into memory", points, collection, path)
    return memory

"""The index: incremental builds, the local store's lock, server errors, the memory copy."""

import threading
import time
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from events.embedded import free_port
from tests.unit.inference.fakes import ACOS, FRETE, ROAS, HashingEmbedder, article
from workers.inference.chunking import chunk_article
from workers.inference.index import (
    IndexUnavailable,
    copy_to_memory,
    indexed_fingerprints,
    open_index,
    open_store,
    require_collection,
    update_index,
)


def _build(client: QdrantClient, articles: list, embedder: HashingEmbedder, **kw: object):  # type: ignore[no-untyped-def,type-arg]
    return update_index(client, "c", articles, embedder, size=12, overlap=3, **kw)  # type: ignore[arg-type]


def test_only_changed_articles_are_re_embedded() -> None:
    client, embedder = QdrantClient(":memory:"), HashingEmbedder()
    first = _build(client, [ACOS, ROAS], embedder)
    assert sorted(first.changed) == ["metricas-acos", "metricas-roas"]
    total = len(chunk_article(ACOS, size=12, overlap=3)) + len(
        chunk_article(ROAS, size=12, overlap=3)
    )
    assert first.points == first.chunks_embedded == embedder.embedded == total

    again = _build(client, [ACOS, ROAS], embedder)
    assert again.changed == [] and again.chunks_embedded == 0 and again.points == total

    edited = article(ROAS.id, ROAS.title, ROAS.body + " O ROAS ideal depende da margem.")
    third = _build(client, [ACOS, edited], embedder)
    assert third.changed == ["metricas-roas"]
    assert third.chunks_embedded == len(chunk_article(edited, size=12, overlap=3))
    assert set(indexed_fingerprints(client, "c")) == {"metricas-acos", "metricas-roas"}


def test_removed_articles_leave_the_index_and_rebuild_embeds_everything() -> None:
    client, embedder = QdrantClient(":memory:"), HashingEmbedder()
    _build(client, [ACOS, ROAS, FRETE], embedder)
    report = _build(client, [ACOS, FRETE], embedder)
    assert report.removed == ["metricas-roas"] and report.chunks_embedded == 0
    assert "metricas-roas" not in indexed_fingerprints(client, "c")
    rebuilt = _build(client, [ACOS, FRETE], embedder, rebuild=True)
    assert sorted(rebuilt.changed) == ["catalogo-frete", "metricas-acos"]


def test_the_memory_copy_holds_every_point_with_both_vectors() -> None:
    client = QdrantClient(":memory:")
    _build(client, [ACOS, ROAS], HashingEmbedder())
    memory = copy_to_memory(client, "c", HashingEmbedder.dim)
    assert memory.count("c").count == client.count("c").count
    [record], _ = memory.scroll("c", limit=1, with_vectors=True)
    assert set(record.vector) == {"dense", "bm25"}  # type: ignore[arg-type]


def test_require_collection_explains_what_is_missing() -> None:
    client = QdrantClient(":memory:")
    with pytest.raises(IndexUnavailable, match="melancia index build"):
        require_collection(client, "c", 64, where="here")
    _build(client, [ACOS], HashingEmbedder())
    with pytest.raises(IndexUnavailable, match="--rebuild"):
        require_collection(client, "c", 512, where="here")
    assert require_collection(client, "c", 64, where="here") > 0


def test_an_unreachable_server_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(IndexUnavailable, match=f"Qdrant server at {url} is unreachable"):
        open_store(url=url, path=Path("unused"), timeout_s=2)
    assert time.monotonic() - started < 10


def test_a_worker_waits_for_the_local_lock_then_loads_into_memory(tmp_path: Path) -> None:
    store = open_store(url=None, path=tmp_path / "q")
    _build(store, [ACOS, ROAS], HashingEmbedder())
    releaser = threading.Timer(0.5, store.close)  # another process holding the store, briefly
    releaser.start()
    client = open_index(
        url=None,
        path=tmp_path / "q",
        collection="c",
        embedder=HashingEmbedder(),
        corpus=None,
        chunk_words=12,
        chunk_overlap=3,
    )
    releaser.join()
    assert client.count("c").count > 0
    # The store is free again: another worker (or an index build) can open it at once.
    open_store(url=None, path=tmp_path / "q", lock_wait_s=0).close()


def test_a_busy_store_past_the_wait_is_a_clear_error(tmp_path: Path) -> None:
    holder = open_store(url=None, path=tmp_path / "q")
    try:
        with pytest.raises(IndexUnavailable, match="busy"):
            open_store(url=None, path=tmp_path / "q", lock_wait_s=0.3)
    finally:
        holder.close()


def test_open_index_builds_a_missing_local_index_from_the_corpus(tmp_path: Path) -> None:
    embedder = HashingEmbedder()
    client = open_index(
        url=None,
        path=tmp_path / "q",
        collection="c",
        embedder=embedder,
        corpus=lambda: [ACOS, FRETE],
        chunk_words=12,
        chunk_overlap=3,
    )
    assert embedder.embedded == client.count("c").count > 0
    with pytest.raises(IndexUnavailable, match="does not exist"):
        open_index(
            url=None,
            path=tmp_path / "other",
            collection="c",
            embedder=embedder,
            corpus=None,
            chunk_words=12,
            chunk_overlap=3,
        )

"""`melancia index ...`: build the retrieval index and try searches against it."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any


def _build(args: argparse.Namespace) -> int:
    from data.pipeline import load_corpus
    from workers.inference.embedding import UseEmbedder
    from workers.inference.index import IndexUnavailable, open_store, update_index
    from workers.inference.settings import InferenceSettings

    settings = InferenceSettings()
    started = time.perf_counter()
    articles = load_corpus()
    embedder = UseEmbedder(threads=settings.embedding_threads)
    try:
        store = open_store(url=settings.qdrant_url, path=settings.qdrant_dir)
    except IndexUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        report = update_index(
            store,
            settings.qdrant_collection,
            articles,
            embedder,
            size=settings.chunk_words,
            overlap=settings.chunk_overlap,
            rebuild=args.rebuild,
        )
    finally:
        store.close()
    where = settings.qdrant_url or settings.qdrant_dir
    print(
        f"index {settings.qdrant_collection} at {where}: {report.articles} articles, "
        f"{len(report.changed)} (re)embedded, {len(report.removed)} removed, "
        f"{report.chunks_embedded} passages embedded in {report.embed_s:.1f}s "
        f"({report.chunks_per_s:.0f}/s), {report.points} passages in total, "
        f"{time.perf_counter() - started:.1f}s"
    )
    return 0


def _search(args: argparse.Namespace) -> int:
    from workers.inference.app import load_retriever
    from workers.inference.index import IndexUnavailable
    from workers.inference.settings import InferenceSettings

    settings = InferenceSettings(retrieval=True, retrieval_auto_index=False)
    try:
        retriever = load_retriever(settings)
    except IndexUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    assert retriever is not None
    result = retriever.search(args.question, k=args.k)
    scope = "in scope" if result.in_scope else "OUT OF SCOPE"
    print(f"best cosine {result.best_dense:.3f} ({scope}, threshold {retriever.min_score})")
    for rank, passage in enumerate(result.passages, start=1):
        c = passage.candidate
        print(
            f"{rank}. {passage.score:.3f} (cos {c.dense:.3f}, bm25 {c.lexical:.2f}) "
            f"{c.article_id} — {c.section}"
        )
    return 0


def register(subparsers: Any) -> None:
    """Add `melancia index build|search`."""
    index = subparsers.add_parser("index", help="the retrieval index (Qdrant)").add_subparsers(
        dest="action", required=True
    )
    p = index.add_parser("build", help="embed changed corpus articles into the index")
    p.add_argument("--rebuild", action="store_true", help="drop the collection and embed all")
    p.set_defaults(func=_build, service="cli")
    p = index.add_parser("search", help="show what retrieval returns for a question")
    p.add_argument("question")
    p.add_argument("-k", type=int, default=5, help="articles to show")
    p.set_defaults(func=_search, service="cli")

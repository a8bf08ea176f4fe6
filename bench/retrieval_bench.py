"""Benchmark retrieval: recall@k and MRR on data/benchmark, hybrid vs dense vs BM25 alone.

Every benchmark item names the article that answers it (`article_id`); a method ranks
articles (each by its best passage) and is scored on where that article lands. The index is
built from the corpus into an in-memory Qdrant, so the run also times embedding and the
build, and never touches var/qdrant. The scope gate is measured on the benchmark questions
(all in scope) and on a few questions that are not about Retail Media.

Usage: python -m bench.retrieval_bench [--threads 1] [--words 120 --overlap 30]
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable

from qdrant_client import QdrantClient

from data.pipeline import load_benchmark, load_corpus
from workers.inference.embedding import UseEmbedder
from workers.inference.index import update_index
from workers.inference.retrieval import Candidate, Retriever, best_per_article, fuse
from workers.inference.settings import InferenceSettings

KS = (1, 3, 5)
OUT_OF_SCOPE = (
    "Qual é a capital da Austrália?",
    "Como faço um bolo de cenoura fofinho?",
    "Quem ganhou a Copa do Mundo de 2002?",
    "Me explica a teoria da relatividade.",
    "Qual a melhor receita de feijoada?",
    "Como declarar imposto de renda de pessoa física?",
    "Que horas são em Tóquio agora?",
    "Escreva um poema sobre o mar.",
    "Como trocar o pneu do carro?",
    "Qual é o melhor time de futebol do Brasil?",
    "What is the boiling point of water?",
    "Oi, tudo bem?",
)

Ranker = Callable[[dict[str, Candidate]], list[str]]


def rank_by(score: Callable[[Candidate], float]) -> Ranker:
    def ranked(found: dict[str, Candidate]) -> list[str]:
        order = sorted(found.values(), key=lambda c: (-score(c), c.point_id))
        return list(dict.fromkeys(c.article_id for c in order))

    return ranked


def hybrid(weight: float) -> Ranker:
    def ranked(found: dict[str, Candidate]) -> list[str]:
        passages = best_per_article(fuse(found, lexical_weight=weight), k=len(found))
        return [p.article_id for p in passages]

    return ranked


def score(rankings: list[tuple[str, list[str]]]) -> dict[str, float]:
    """recall@k for KS and MRR over (expected, ranked) pairs; a miss counts 0 for MRR."""
    n = len(rankings)
    row = {f"r@{k}": sum(exp in ranked[:k] for exp, ranked in rankings) / n for k in KS}
    row["mrr"] = sum(1 / (r.index(exp) + 1) if exp in r else 0.0 for exp, r in rankings) / n
    return row


def main() -> int:
    defaults = InferenceSettings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=defaults.embedding_threads)
    parser.add_argument("--words", type=int, default=defaults.chunk_words)
    parser.add_argument("--overlap", type=int, default=defaults.chunk_overlap)
    parser.add_argument("--weight", type=float, default=defaults.retrieval_lexical_weight)
    parser.add_argument("--min-score", type=float, default=defaults.retrieval_min_score)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    articles, items = load_corpus(), load_benchmark()
    items = [i for i in items if i.article_id]
    embedder = UseEmbedder(threads=args.threads)
    t0 = time.perf_counter()
    embedder.warm_up()
    load_s = time.perf_counter() - t0
    client = QdrantClient(":memory:")
    report = update_index(
        client, "bench", articles, embedder, size=args.words, overlap=args.overlap
    )
    retriever = Retriever(
        client, "bench", embedder, lexical_weight=args.weight, min_score=args.min_score
    )

    t0 = time.perf_counter()
    embedder.embed([i.question for i in items])
    question_rate = len(items) / (time.perf_counter() - t0)

    methods: dict[str, Ranker] = {
        f"hybrid (cosine + {args.weight:g} x BM25), served": hybrid(args.weight),
        "dense only (USE cosine)": rank_by(lambda c: c.dense),
        "BM25 only (lexical baseline)": rank_by(lambda c: c.lexical),
    }
    rankings: dict[str, list[tuple[str, list[str]]]] = {m: [] for m in methods}
    search_s: list[float] = []
    rejected_in_domain = 0
    for item in items:
        t0 = time.perf_counter()
        both = retriever.candidates_for(item.question)
        search_s.append(time.perf_counter() - t0)
        lexical_only = retriever.candidates_for(item.question, dense=False)
        dense_only = retriever.candidates_for(item.question, lexical=False)
        assert item.article_id is not None
        for name, ranker in methods.items():
            found = {
                "dense only (USE cosine)": dense_only,
                "BM25 only (lexical baseline)": lexical_only,
            }.get(name, both)
            rankings[name].append((item.article_id, ranker(found)))
        rejected_in_domain += not retriever.search(item.question).in_scope
    rejected_out = sum(not retriever.search(q).in_scope for q in OUT_OF_SCOPE)

    print(f"\nRetrieval on {len(items)} benchmark questions, {len(articles)} articles")
    print(f"\n| method | {' | '.join(f'recall@{k}' for k in KS)} | MRR |")
    print(f"|---|{'---:|' * (len(KS) + 1)}")
    for name, pairs in rankings.items():
        row = score(pairs)
        cells = " | ".join(f"{row[f'r@{k}']:.3f}" for k in KS)
        print(f"| {name} | {cells} | {row['mrr']:.3f} |")
    search_ms = sorted(s * 1000 for s in search_s)
    print(
        f"\nembedder {embedder.model_id}, {args.threads} thread(s): load {load_s:.1f}s; "
        f"{report.chunks_per_s:.0f} passages/s ({args.words} words, overlap {args.overlap}); "
        f"{question_rate:.0f} questions/s"
    )
    print(
        f"index build (in memory): {report.chunks_embedded} passages from "
        f"{report.articles} articles in {report.total_s:.1f}s ({report.embed_s:.1f}s embedding)"
    )
    print(
        f"search: median {search_ms[len(search_ms) // 2]:.1f} ms, "
        f"p95 {search_ms[int(len(search_ms) * 0.95)]:.1f} ms (embed + 2 queries + fusion)"
    )
    print(
        f"scope gate (best cosine < {args.min_score:g}): {rejected_out}/{len(OUT_OF_SCOPE)} "
        f"off-topic questions refused; {rejected_in_domain}/{len(items)} benchmark "
        "questions wrongly refused"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`melancia replay`: re-publish a topic's events, from Kafka or from the analytics archive."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

from events.replay import (
    KafkaPublisher,
    ReplayRecord,
    ReplaySummary,
    open_kafka_source,
    parse_rate,
    parse_time,
    replay,
)
from events.settings import BusSettings

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `replay` command to the melancia CLI."""
    p = subparsers.add_parser(
        "replay",
        help="re-publish a topic's events (same event_id, replayed: true)",
        description="Replay events of a topic from Kafka, or from the analytics archive "
        "(--from-archive) once Kafka's retention has passed. TIME is ISO 8601 or a span "
        "before now (30m, 2h, 7d).",
    )
    p.add_argument("--topic", required=True, help="topic to read")
    start = p.add_mutually_exclusive_group(required=True)
    start.add_argument(
        "--from-offset", type=int, metavar="N", help="first offset (every partition)"
    )
    start.add_argument("--since", type=parse_time, metavar="TIME", help="first event time")
    p.add_argument("--until", type=parse_time, metavar="TIME", help="end of the window (exclusive)")
    p.add_argument("--to", dest="to_topic", metavar="TOPIC", help="target topic (default: --topic)")
    p.add_argument("--rate", type=parse_rate, metavar="N/s", help="max events per second")
    p.add_argument("--dry-run", action="store_true", help="count what would be replayed")
    p.add_argument(
        "--from-archive", action="store_true", help="read from the analytics store, not Kafka"
    )
    p.set_defaults(func=_replay, service="cli")


def _replay(args: argparse.Namespace) -> int:
    try:
        summary = asyncio.run(run_replay(args))
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(summary.render())
    return 0


def _progress(total: int) -> Any:
    from tqdm import tqdm

    # disable=None: a bar on a terminal, nothing when the output is piped.
    return tqdm(total=total, unit="ev", file=sys.stderr, disable=None)


async def run_replay(args: argparse.Namespace) -> ReplaySummary:
    bus = BusSettings()
    target = args.to_topic or args.topic
    if args.from_archive:
        total, records, source = _archive_records(args)
    else:
        kafka = await open_kafka_source(
            bus, args.topic, from_offset=args.from_offset, since=args.since
        )
        total, records, source = kafka.total, kafka.records(), f"kafka:{args.topic}"
    bar = _progress(total)
    try:
        if args.dry_run:
            return await replay(
                records,
                publish=None,
                source=source,
                target=target,
                since=args.since,
                until=args.until,
                progress=bar,
            )
        async with KafkaPublisher(bus) as publisher:
            return await replay(
                records,
                publish=publisher.publish,
                source=source,
                target=target,
                since=args.since,
                until=args.until,
                rate=args.rate,
                progress=bar,
            )
    finally:
        bar.close()


def _archive_records(args: argparse.Namespace) -> tuple[int, AsyncIterator[ReplayRecord], str]:
    from workers.analytics.archive import ArchiveQuery
    from workers.analytics.client import AnalyticsUnavailable, open_archive
    from workers.analytics.settings import AnalyticsSettings

    settings = AnalyticsSettings()
    query = ArchiveQuery(args.topic, args.since, args.until, args.from_offset)
    try:
        archive = open_archive(settings, query)
    except AnalyticsUnavailable as exc:
        raise ValueError(str(exc)) from exc

    async def records() -> AsyncIterator[ReplayRecord]:
        events: Iterator[Any] = archive.events
        while True:
            # The archive is read in a thread: HTTP or DuckDB calls would block the loop.
            chunk = await asyncio.to_thread(_take, events, 500)
            if not chunk:
                return
            for event in chunk:
                key = event.key.encode() if event.key is not None else None
                yield ReplayRecord(key, event.value.encode(), None, event.partition, event.offset)

    return archive.total, records(), f"archive:{args.topic}"


def _take(items: Iterator[Any], n: int) -> list[Any]:
    out = []
    for item in items:
        out.append(item)
        if len(out) >= n:
            break
    return out

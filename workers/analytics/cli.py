"""`melancia stats`: the query-log statistics that `GET /api/v1/stats` serves."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `stats` command to the melancia CLI."""
    p = subparsers.add_parser("stats", help="query-log statistics from the analytics store")
    p.add_argument("--hours", type=float, default=24.0, help="window length (default 24)")
    p.add_argument("--since", type=datetime.fromisoformat, default=None, help="ISO time")
    p.add_argument("--until", type=datetime.fromisoformat, default=None, help="ISO time")
    p.add_argument("--json", action="store_true", help="print the JSON the API returns")
    p.set_defaults(func=_stats, service="cli")


def _stats(args: argparse.Namespace) -> int:
    from workers.analytics.client import AnalyticsUnavailable, read_stats
    from workers.analytics.report import render
    from workers.analytics.settings import AnalyticsSettings

    try:
        stats = read_stats(
            AnalyticsSettings(), since=args.since, until=args.until, hours=args.hours
        )
    except AnalyticsUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(stats.model_dump_json(indent=2) if args.json else render(stats))
    return 0

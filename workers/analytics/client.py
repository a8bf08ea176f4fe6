"""Readers of the analytics store: over the sink's HTTP endpoint, or the file when no sink runs."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import duckdb
import httpx

from schemas.stats import StatsResponse
from workers.analytics.archive import ArchivedEvent, ArchiveQuery, count_archived, read_archived
from workers.analytics.settings import AnalyticsSettings
from workers.analytics.stats import compute_stats, window


class AnalyticsUnavailable(Exception):
    """Neither the sink's endpoint nor the DuckDB file could be read."""


def _params(**values: object) -> dict[str, str]:
    out = {}
    for key, value in values.items():
        if value is not None:
            out[key] = value.isoformat() if isinstance(value, datetime) else str(value)
    return out


def _open_read_only(settings: AnalyticsSettings) -> duckdb.DuckDBPyConnection:
    path = settings.db_path
    if not path.exists():
        raise AnalyticsUnavailable(f"no analytics store at {path} and no sink at {settings.url}")
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise AnalyticsUnavailable(
            f"the sink at {settings.url} does not answer and {path} cannot be opened: {exc}"
        ) from exc


def read_stats(
    settings: AnalyticsSettings,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    hours: float = 24.0,
    timeout_s: float = 10.0,
) -> StatsResponse:
    """Stats from the running sink, else straight from the file (no sink holds it then)."""
    try:
        response = httpx.get(
            f"{settings.url}/stats",
            params=_params(since=since, until=until, hours=hours),
            timeout=timeout_s,
        )
        response.raise_for_status()
        return StatsResponse.model_validate(response.json())
    except httpx.HTTPError:
        pass
    start, end = window(since, until, hours)
    with contextlib.closing(_open_read_only(settings)) as con:
        return compute_stats(con, since=start, until=end, prices=settings.token_prices)


@dataclass
class ArchiveSource:
    """Archived events of one topic and how many there are (for a progress bar)."""

    total: int
    events: Iterator[ArchivedEvent]


def open_archive(settings: AnalyticsSettings, query: ArchiveQuery) -> ArchiveSource:
    """Stream archived events from the running sink, else from the file."""
    params = _params(
        topic=query.topic, since=query.since, until=query.until, from_offset=query.from_offset
    )
    client = httpx.Client(timeout=httpx.Timeout(10.0, read=None))
    try:
        stream = client.stream("GET", f"{settings.url}/archive", params=params)
        response = stream.__enter__()
        response.raise_for_status()
    except httpx.HTTPError:
        client.close()
    else:

        def remote() -> Iterator[ArchivedEvent]:
            try:
                for line in response.iter_lines():
                    if line:
                        yield ArchivedEvent(**json.loads(line))
            finally:
                stream.__exit__(None, None, None)
                client.close()

        return ArchiveSource(int(response.headers.get("x-total-count", 0)), remote())

    con = _open_read_only(settings)
    total = count_archived(con, query)

    def local() -> Iterator[ArchivedEvent]:
        try:
            yield from read_archived(con, query)
        finally:
            con.close()

    return ArchiveSource(total, local())

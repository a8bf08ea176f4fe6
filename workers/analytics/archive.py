"""Reading archived envelopes back out of the raw table, for `melancia replay --from-archive`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import duckdb

from workers.analytics.tables import RAW_TABLE

FETCH_ROWS = 1000


@dataclass(frozen=True)
class ArchiveQuery:
    """Which archived events of one topic to read: a time window and/or a first offset."""

    topic: str
    since: datetime | None = None
    until: datetime | None = None
    from_offset: int | None = None

    def where(self) -> tuple[str, list[object]]:
        clauses: list[str] = ["topic = ?"]
        params: list[object] = [self.topic]
        if self.since is not None:
            clauses.append("time >= ?::TIMESTAMPTZ")
            params.append(self.since.isoformat())
        if self.until is not None:
            clauses.append("time < ?::TIMESTAMPTZ")
            params.append(self.until.isoformat())
        if self.from_offset is not None:
            clauses.append('"offset" >= ?')
            params.append(self.from_offset)
        return " AND ".join(clauses), params


@dataclass(frozen=True)
class ArchivedEvent:
    key: str | None
    value: str
    partition: int | None
    offset: int | None


def count_archived(cursor: duckdb.DuckDBPyConnection, query: ArchiveQuery) -> int:
    where, params = query.where()
    row = cursor.execute(f"SELECT count(*) FROM {RAW_TABLE} WHERE {where}", params).fetchone()
    return int(row[0]) if row else 0


def read_archived(
    cursor: duckdb.DuckDBPyConnection, query: ArchiveQuery
) -> Iterator[ArchivedEvent]:
    """The archived envelopes in event-time order (the original JSON text, untouched)."""
    where, params = query.where()
    cursor.execute(
        f'SELECT key, envelope::VARCHAR, partition, "offset" FROM {RAW_TABLE} '
        f'WHERE {where} ORDER BY time, partition, "offset"',
        params,
    )
    while rows := cursor.fetchmany(FETCH_ROWS):
        for key, value, partition, offset in rows:
            yield ArchivedEvent(key, value, partition, offset)

"""The DuckDB store: schema, idempotent batch writes, read cursors.

DuckDB allows one writing process per file; this store is that writer. Each call opens its own
cursor, so writes (one batch at a time, in a worker thread) and reads (stats, archive) can run
side by side in the same process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from workers.analytics.records import Decoded
from workers.analytics.tables import (
    ENVELOPE_COLUMNS,
    RAW_COLUMNS,
    RAW_TABLE,
    TableSpec,
    create_statements,
    quote,
    typed_specs,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WriteResult:
    inserted: int
    duplicates: int


def _unnest_insert(
    cursor: duckdb.DuckDBPyConnection,
    table: str,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[tuple[Any, ...]],
) -> int:
    """INSERT OR IGNORE many rows in one statement: one list parameter per column, unnested."""
    exprs = []
    for i, (_, declared) in enumerate(columns, 1):
        base = declared.split()[0]
        if base in ("JSON", "TIMESTAMPTZ"):
            exprs.append(f"unnest(${i}::VARCHAR[])::{base}")
        else:
            exprs.append(f"unnest(${i}::{base}[])")
    names = ", ".join(quote(n) for n, _ in columns)
    sql = f"INSERT OR IGNORE INTO {quote(table)} ({names}) SELECT {', '.join(exprs)}"
    params = [list(col) for col in zip(*rows, strict=True)]
    result = cursor.execute(sql, params).fetchone()
    return int(result[0]) if result else 0


class AnalyticsStore:
    """One DuckDB database holding the raw envelopes and the typed tables."""

    def __init__(self, path: Path | str, *, read_only: bool = False) -> None:
        self.path = str(path)
        self.read_only = read_only
        self.specs = typed_specs()
        if not read_only and self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._con = duckdb.connect(self.path, read_only=read_only)
        self._write_lock = threading.Lock()
        if not read_only:
            self.ensure_schema()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection of its own for one thread (DuckDB connections are not shared)."""
        return self._con.cursor()

    def ensure_schema(self) -> None:
        """Create missing tables and add the columns that payloads gained since."""
        cur = self.cursor()
        for statement in create_statements(self.specs):
            cur.execute(statement)
        for spec in self.specs.values():
            existing = {
                row[0]
                for row in cur.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = ?",
                    [spec.name],
                ).fetchall()
            }
            for column in spec.columns:
                if column.name not in existing:
                    cur.execute(
                        f"ALTER TABLE {quote(spec.name)} "
                        f"ADD COLUMN {quote(column.name)} {column.sql_type}"
                    )
                    logger.info("added column %s.%s", spec.name, column.name)

    def write(self, events: Sequence[Decoded]) -> WriteResult:
        """Insert a batch in one transaction; an event_id already stored is ignored."""
        unique: dict[str, Decoded] = {}
        for event in events:
            unique.setdefault(event.event_id, event)
        if not unique:
            return WriteResult(0, len(events))
        by_table: dict[str, tuple[TableSpec, list[tuple[Any, ...]]]] = {}
        for event in unique.values():
            if event.table is not None and event.typed_row is not None:
                by_table.setdefault(event.table.name, (event.table, []))[1].append(event.typed_row)
        with self._write_lock:
            cur = self.cursor()
            cur.execute("BEGIN TRANSACTION")
            try:
                inserted = _unnest_insert(
                    cur, RAW_TABLE, RAW_COLUMNS, [e.raw_row for e in unique.values()]
                )
                for spec, rows in by_table.values():
                    columns = [*ENVELOPE_COLUMNS, *((c.name, c.sql_type) for c in spec.columns)]
                    _unnest_insert(cur, spec.name, columns, rows)
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            finally:
                cur.close()
        return WriteResult(inserted, len(events) - inserted)

    def counts(self) -> dict[str, int]:
        """Rows per table (the raw table under its own name)."""
        cur = self.cursor()
        try:
            out = {RAW_TABLE: int(cur.execute(f"SELECT count(*) FROM {RAW_TABLE}").fetchone()[0])}  # type: ignore[index]
            for spec in self.specs.values():
                row = cur.execute(f"SELECT count(*) FROM {quote(spec.name)}").fetchone()
                out[spec.name] = int(row[0]) if row else 0
            return out
        finally:
            cur.close()

    def close(self) -> None:
        self._con.close()

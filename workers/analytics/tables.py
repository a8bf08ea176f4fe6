"""The analytics tables: the raw envelope table and one typed table per event type.

Typed tables are derived from the payload models in `schemas/catalog.py`, so a field added to a
payload becomes a column at the next start (`ALTER TABLE ... ADD COLUMN`); scalars keep their
type, anything nested (lists, dicts, models) is stored as JSON.
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, Union

from pydantic import BaseModel

from schemas.catalog import PAYLOADS
from schemas.envelope import Payload

RAW_TABLE = "events"

# Envelope attributes repeated in every typed table (prefixed so no payload field collides).
ENVELOPE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_id", "VARCHAR PRIMARY KEY"),
    ("event_time", "TIMESTAMPTZ"),
    ("event_source", "VARCHAR"),
    ("correlation_id", "VARCHAR"),
    ("replayed", "BOOLEAN"),
    ("topic", "VARCHAR"),
)

RAW_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_id", "VARCHAR PRIMARY KEY"),
    ("type", "VARCHAR"),
    ("source", "VARCHAR"),
    ("time", "TIMESTAMPTZ"),
    ("schema_version", "VARCHAR"),
    ("correlation_id", "VARCHAR"),
    ("replayed", "BOOLEAN"),
    ("topic", "VARCHAR"),
    ("partition", "INTEGER"),
    ("offset", "BIGINT"),
    ("key", "VARCHAR"),
    ("ingested_at", "TIMESTAMPTZ"),
    ("envelope", "JSON"),
)


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str

    @property
    def is_json(self) -> bool:
        return self.sql_type == "JSON"


@dataclass(frozen=True)
class TableSpec:
    """A typed table: its name, the payload it stores and the payload's columns."""

    name: str
    payload: type[Payload]
    columns: tuple[Column, ...]


def table_name(event_type: str) -> str:
    return event_type.replace(".", "_")


def sql_type(annotation: Any) -> str:
    """The DuckDB type of a pydantic field annotation."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return sql_type(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return sql_type(args[0]) if len(args) == 1 else "JSON"
    if origin is Literal:
        values = typing.get_args(annotation)
        if all(isinstance(v, bool) for v in values):
            return "BOOLEAN"
        if all(isinstance(v, int) for v in values):
            return "BIGINT"
        return "VARCHAR"
    if annotation is bool:
        return "BOOLEAN"
    if annotation is int:
        return "BIGINT"
    if annotation is float:
        return "DOUBLE"
    if annotation is str:
        return "VARCHAR"
    if annotation is dt.datetime:
        return "TIMESTAMPTZ"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "JSON"
    return "JSON"


def spec_for(payload: type[Payload]) -> TableSpec:
    columns = tuple(
        Column(name, sql_type(field.annotation)) for name, field in payload.model_fields.items()
    )
    return TableSpec(table_name(payload.EVENT_TYPE), payload, columns)


def typed_specs() -> dict[str, TableSpec]:
    """Event type → typed table, for every payload in the catalog (first model of a type wins)."""
    specs: dict[str, TableSpec] = {}
    for payload in PAYLOADS:
        specs.setdefault(payload.EVENT_TYPE, spec_for(payload))
    return specs


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def create_statements(specs: dict[str, TableSpec]) -> list[str]:
    """CREATE TABLE IF NOT EXISTS for the raw table and every typed table."""
    raw = ", ".join(f"{quote(n)} {t}" for n, t in RAW_COLUMNS)
    out = [f"CREATE TABLE IF NOT EXISTS {RAW_TABLE} ({raw})"]
    for spec in specs.values():
        cols = [f"{quote(n)} {t}" for n, t in ENVELOPE_COLUMNS]
        cols += [f"{quote(c.name)} {c.sql_type}" for c in spec.columns]
        out.append(f"CREATE TABLE IF NOT EXISTS {quote(spec.name)} ({', '.join(cols)})")
    return out

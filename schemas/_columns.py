"""Helpers that keep every table schema declared the same way."""

from __future__ import annotations

import pyarrow as pa


def column(name: str, type_: pa.DataType, doc: str, *, nullable: bool = True) -> pa.Field:
    """One documented column; the description travels in the field metadata."""
    return pa.field(name, type_, nullable=nullable, metadata={"doc": doc})


def table_schema(name: str, grain: str, columns: list[pa.Field], *, version: int = 1) -> pa.Schema:
    """A table's schema, with its name, grain and version in the schema metadata."""
    return pa.schema(
        columns,
        metadata={"table": name, "grain": grain, "schema_version": str(version)},
    )


UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")

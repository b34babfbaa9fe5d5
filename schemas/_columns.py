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


def doc_id_column() -> pa.Field:
    """The key every document table joins on."""
    return column("doc_id", pa.string(), "FK -> documents.doc_id", nullable=False)


def span_columns() -> list[pa.Field]:
    """[char_start, char_end) into documents.text, in code points."""
    return [
        column("char_start", pa.int32(), "Start offset in documents.text (code points, inclusive)", nullable=False),
        column("char_end", pa.int32(), "End offset in documents.text (exclusive)", nullable=False),
    ]


def fingerprint_column() -> pa.Field:
    return column(
        "fingerprint",
        pa.string(),
        "Pipeline fingerprint that produced the row "
        "(khabar version, processing version, entity backend, its code version and model)",
        nullable=False,
    )

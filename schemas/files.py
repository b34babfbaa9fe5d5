"""files: one row per input file ever seen. Grain: path."""

import pyarrow as pa

from schemas._columns import UTC_TIMESTAMP, column, table_schema

FILE_STATUSES = ("processed", "duplicate", "quarantined", "failed", "missing")

FILES = table_schema(
    "files",
    "one row per input file ever seen (path)",
    [
        column(
            "path",
            pa.string(),
            "Path relative to the raw folder; a name byte that is not UTF-8 is written `\\xHH`, a backslash `\\\\`",
            nullable=False,
        ),
        column("size_bytes", pa.int64(), "Size when last seen", nullable=False),
        column("mtime", UTC_TIMESTAMP, "Modification time when last seen (UTC)", nullable=False),
        column("content_hash", pa.string(), "sha256 of the bytes when last read (hex)", nullable=False),
        column("doc_id", pa.string(), "Document made from the content (FK -> documents.doc_id); null if quarantined"),
        column(
            "status",
            pa.string(),
            "processed | duplicate (same content as another file's document) | quarantined"
            " | failed (its shard failed; retried next run)"
            " | missing (gone from the raw folder; its document is kept until `khabar prune --missing`)",
            nullable=False,
        ),
        column("reason", pa.string(), "Why a file was quarantined or failed (snake_case code), else null"),
        column("detail", pa.string(), "Human-readable detail for the reason, else null"),
        column("first_seen_run_id", pa.string(), "Run that first saw the path", nullable=False),
        column(
            "last_seen_run_id",
            pa.string(),
            "Latest run that saw the path (older than the latest run: the file is gone)",
            nullable=False,
        ),
    ],
)

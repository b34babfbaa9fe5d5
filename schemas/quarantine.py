"""quarantine: one row per file set aside by a run, with why. Grain: (run_id, path)."""

import pyarrow as pa

from schemas._columns import UTC_TIMESTAMP, column, table_schema

QUARANTINE_REASONS = (
    "empty_text",
    "binary_content",
    "undecodable",
    "too_large",
    "unreadable",
    "outside_raw_folder",
    "not_a_regular_file",
    "vanished",
    "changed_during_run",
    "processing_error",
    "too_slow",
)

QUARANTINE = table_schema(
    "quarantine",
    "one row per file quarantined by a run (run_id, path)",
    [
        column("run_id", pa.string(), "Run that set the file aside (FK -> runs.run_id)", nullable=False),
        column("path", pa.string(), "Path relative to the raw folder (FK -> files.path)", nullable=False),
        column("size_bytes", pa.int64(), "Size when the run looked at it", nullable=False),
        column("content_hash", pa.string(), "sha256 of the bytes, when they could be read"),
        column("reason", pa.string(), " | ".join(QUARANTINE_REASONS), nullable=False),
        column("detail", pa.string(), "Human-readable detail (the decoder's or the system's message)", nullable=False),
        column("quarantined_at", UTC_TIMESTAMP, "When the run recorded it (UTC)", nullable=False),
    ],
)

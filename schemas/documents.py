"""documents: one row per distinct article content. Grain: doc_id."""

import pyarrow as pa

from schemas._columns import UTC_TIMESTAMP, column, fingerprint_column, table_schema

DOCUMENTS = table_schema(
    "documents",
    "one row per distinct input content (doc_id)",
    [
        column("doc_id", pa.string(), "Content hash of the raw file bytes (sha256, 32 hex chars)", nullable=False),
        column(
            "path",
            pa.string(),
            "Path of the first file with this content, relative to the raw folder (written as files.path)",
            nullable=False,
        ),
        column(
            "source", pa.string(), "Parent folder name of the file, null when it is the date folder or the raw root"
        ),
        column("published_date", pa.date32(), "First YYYY-MM-DD folder in the path, null if none"),
        column(
            "title",
            pa.string(),
            "First non-empty line of the cleaned text, cut at a word boundary to at most 300 characters",
            nullable=False,
        ),
        column("text", pa.string(), "Cleaned text; every char offset in every table points into it", nullable=False),
        column(
            "repairs",
            pa.list_(pa.string()),
            "Repairs made to decode the file (dropped_invalid_utf8, dropped_nul_bytes) and encoding_guessed when the"
            " encoding is a statistical guess (no byte-order mark, not UTF-8, no clear Arabic reading); empty when it"
            " decoded cleanly",
            nullable=False,
        ),
        column(
            "encoding",
            pa.string(),
            "Encoding the raw bytes were decoded from (utf-8, utf-8-sig, utf-16-le, utf-16-be, cp1256, iso8859-6, ...)",
            nullable=False,
        ),
        column("n_chars", pa.int32(), "Length of text in Unicode code points", nullable=False),
        column("n_sentences", pa.int32(), "Rows in sentences for this document", nullable=False),
        column("n_tokens", pa.int32(), "Rows in tokens for this document", nullable=False),
        column("n_entities", pa.int32(), "Rows in entities for this document", nullable=False),
        column("run_id", pa.string(), "Run that processed the document (FK -> runs.run_id)", nullable=False),
        column("processed_at", UTC_TIMESTAMP, "When the document was processed (UTC)", nullable=False),
        fingerprint_column(),
    ],
    version=3,
)

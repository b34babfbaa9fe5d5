"""tokens: one row per token of a document. Grain: (doc_id, token_idx)."""

import pyarrow as pa

from schemas._columns import column, table_schema

TOKENS = table_schema(
    "tokens",
    "one row per token (doc_id, token_idx)",
    [
        column("doc_id", pa.string(), "FK -> documents.doc_id", nullable=False),
        column("token_idx", pa.int32(), "0-based position of the token in the document", nullable=False),
        column("sentence_idx", pa.int32(), "Sentence holding the token (FK -> sentences)", nullable=False),
        column("char_start", pa.int32(), "Start offset in documents.text (code points, inclusive)", nullable=False),
        column("char_end", pa.int32(), "End offset in documents.text (exclusive)", nullable=False),
        column("surface", pa.string(), "documents.text[char_start:char_end]", nullable=False),
        column(
            "match_key",
            pa.string(),
            "Surface without diacritics, alef/alef-maksura/teh-marbuta normalized, digits as ASCII",
            nullable=False,
        ),
        column(
            "fingerprint",
            pa.string(),
            "Pipeline fingerprint that produced the row (khabar version, processing version, entity backend and model)",
            nullable=False,
        ),
    ],
    version=2,
)

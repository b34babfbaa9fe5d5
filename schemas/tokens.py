"""tokens: one row per token of a document. Grain: (doc_id, token_idx)."""

import pyarrow as pa

from schemas._columns import column, doc_id_column, fingerprint_column, span_columns, table_schema

TOKENS = table_schema(
    "tokens",
    "one row per token (doc_id, token_idx)",
    [
        doc_id_column(),
        column("token_idx", pa.int32(), "0-based position of the token in the document", nullable=False),
        column("sentence_idx", pa.int32(), "Sentence holding the token (FK -> sentences)", nullable=False),
        *span_columns(),
        column("surface", pa.string(), "documents.text[char_start:char_end]", nullable=False),
        column(
            "match_key",
            pa.string(),
            "Surface without diacritics, alef/alef-maksura/teh-marbuta normalized, digits as ASCII",
            nullable=False,
        ),
        fingerprint_column(),
    ],
    version=2,
)

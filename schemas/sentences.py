"""sentences: one row per sentence of a document. Grain: (doc_id, sentence_idx)."""

import pyarrow as pa

from schemas._columns import column, doc_id_column, fingerprint_column, span_columns, table_schema

SENTENCES = table_schema(
    "sentences",
    "one row per sentence (doc_id, sentence_idx)",
    [
        doc_id_column(),
        column("sentence_idx", pa.int32(), "0-based position of the sentence in the document", nullable=False),
        *span_columns(),
        column("text", pa.string(), "documents.text[char_start:char_end]", nullable=False),
        column("n_tokens", pa.int32(), "Tokens in the sentence", nullable=False),
        fingerprint_column(),
    ],
    version=2,
)

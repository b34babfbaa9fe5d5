"""sentences: one row per sentence of a document. Grain: (doc_id, sentence_idx)."""

import pyarrow as pa

from schemas._columns import column, table_schema

SENTENCES = table_schema(
    "sentences",
    "one row per sentence (doc_id, sentence_idx)",
    [
        column("doc_id", pa.string(), "FK -> documents.doc_id", nullable=False),
        column("sentence_idx", pa.int32(), "0-based position of the sentence in the document", nullable=False),
        column("char_start", pa.int32(), "Start offset in documents.text (code points, inclusive)", nullable=False),
        column("char_end", pa.int32(), "End offset in documents.text (exclusive)", nullable=False),
        column("text", pa.string(), "documents.text[char_start:char_end]", nullable=False),
        column("n_tokens", pa.int32(), "Tokens in the sentence", nullable=False),
        column(
            "fingerprint",
            pa.string(),
            "Pipeline fingerprint that produced the row (khabar version, processing version, entity backend and model)",
            nullable=False,
        ),
    ],
    version=2,
)

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
        column(
            "is_boilerplate",
            pa.bool_(),
            "The whole sentence is boilerplate: its source repeats it across documents (a footer, a byline); "
            "null in rows written before khabar marked boilerplate",
        ),
        column(
            "boilerplate_chars",
            pa.int32(),
            "Leading characters of the sentence that are boilerplate, where entities are not looked for: all of "
            "them when is_boilerplate, a lead up to its colon that the source repeats (رابط الخبر بصحيفة الوئام:), "
            "else 0; null as is_boilerplate",
        ),
    ],
    version=3,
)

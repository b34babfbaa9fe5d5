"""entities: one row per entity mention. Grain: (doc_id, entity_idx)."""

import pyarrow as pa

from schemas._columns import column, doc_id_column, fingerprint_column, span_columns, table_schema

ENTITY_TYPES = ("PERS", "LOC", "ORG", "MISC")

ENTITIES = table_schema(
    "entities",
    "one row per entity mention (doc_id, entity_idx)",
    [
        doc_id_column(),
        column("entity_idx", pa.int32(), "0-based position of the mention in the document", nullable=False),
        column("type", pa.string(), "PERS | LOC | ORG | MISC", nullable=False),
        column("surface", pa.string(), "documents.text[char_start:char_end], clitics included", nullable=False),
        column(
            "canonical_key",
            pa.string(),
            "Normalized name with clitics and the article handled: وروسيا, لروسيا and روسيا share one key",
            nullable=False,
        ),
        *span_columns(),
        column("token_start", pa.int32(), "First token of the mention (tokens.token_idx)", nullable=False),
        column("token_end", pa.int32(), "One past the last token of the mention", nullable=False),
        column("sentence_idx", pa.int32(), "Sentence holding the mention", nullable=False),
        column("extractor", pa.string(), "Name of the extractor that found the mention", nullable=False),
        column(
            "extractor_version", pa.string(), "Version of that extractor (with its resources' hash)", nullable=False
        ),
        column(
            "extractor_model_hash",
            pa.string(),
            "sha256 of the extractor's model or lists (CRF model file, camel model folder, gazetteer lists)",
            nullable=False,
        ),
        fingerprint_column(),
    ],
    version=3,
)

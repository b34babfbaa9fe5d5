"""The output tables: one schema module per table, and a registry to iterate them."""

import pyarrow as pa

from schemas.commits import COMMIT_KINDS, commits_schema
from schemas.documents import DOCUMENTS
from schemas.entities import ENTITIES, ENTITY_TYPES
from schemas.files import FILE_STATUSES, FILES
from schemas.quarantine import QUARANTINE, QUARANTINE_REASONS
from schemas.runs import RUNS
from schemas.sentences import SENTENCES
from schemas.tokens import TOKENS

TABLES: dict[str, pa.Schema] = {
    "documents": DOCUMENTS,
    "sentences": SENTENCES,
    "tokens": TOKENS,
    "entities": ENTITIES,
    "files": FILES,
    "quarantine": QUARANTINE,
    "runs": RUNS,
}

# khabar's own table of committed steps (tasks.tables): the versions of TABLES that belong together.
COMMITS = commits_schema(tuple(TABLES))

# Tables written per shard of documents (one part each, same part name), keyed by doc_id.
DOCUMENT_TABLES = ("sentences", "tokens", "entities", "documents")


def markdown() -> str:
    """Every table as a markdown section: grain, then one row per column (README's table reference)."""
    out = []
    for name, schema in TABLES.items():
        meta = {k.decode(): v.decode() for k, v in (schema.metadata or {}).items()}
        out += [f"#### `{name}`: {meta['grain']}", "", "| column | type | null | description |", "|---|---|---|---|"]
        for field in schema:
            doc = (field.metadata or {}).get(b"doc", b"").decode()
            out.append(f"| `{field.name}` | {field.type} | {'yes' if field.nullable else 'no'} | {doc} |")
        out.append("")
    return "\n".join(out)


__all__ = [
    "COMMITS",
    "COMMIT_KINDS",
    "DOCUMENTS",
    "DOCUMENT_TABLES",
    "ENTITIES",
    "ENTITY_TYPES",
    "FILES",
    "FILE_STATUSES",
    "QUARANTINE",
    "QUARANTINE_REASONS",
    "RUNS",
    "SENTENCES",
    "TABLES",
    "TOKENS",
    "markdown",
]

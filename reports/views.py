"""The views readers through khabar see (`khabar sql`, reports, `khabar export`): each input's current content once.

A file whose content changes becomes a new document; the old one stays in the tables, superseded.
A document is current while some row of `files` names it (its file's content now, or the content of
a file that is missing from the raw folder: an archive forgets nothing by accident). The views
`documents`, `sentences`, `tokens` and `entities` hold current documents only; `document_versions`
holds every document with `is_current`. Each table's committed rows are registered as `_<table>`.

`entity_names` gives each entity (type, canonical_key) its display name: the most frequent way the
text writes it, without proclitics (السعودية, where the key is السعوديه). Reports show that name and
group by the key.

A `Scope` (reports.scope) narrows the document views to some dates, sources and entity types, so
that every report reads only them.
"""

from __future__ import annotations

import duckdb
import duckdb.func
import pyarrow as pa

from reports.scope import Scope, quoted
from schemas import DOCUMENT_TABLES, TABLES

_CURRENT = "(SELECT doc_id FROM _files WHERE doc_id IS NOT NULL)"
VIEWS = (*TABLES, "document_versions", "entity_names")

_DISPLAY_NAME = "khabar_display_name"
ENTITY_NAMES_SQL = f"""
SELECT type, canonical_key, first(name ORDER BY n DESC, name) AS name
FROM (
    SELECT type, canonical_key, {_DISPLAY_NAME}(surface, canonical_key) AS name, sum(n) AS n
    FROM (SELECT type, canonical_key, surface, count(*) AS n FROM entities GROUP BY ALL)
    GROUP BY ALL
)
GROUP BY ALL
"""


def base_name(table: str) -> str:
    """The name a table's committed rows are registered under, below the views."""
    return f"_{table}"


def view_statements(scope: Scope | None = None) -> list[str]:
    """CREATE VIEW statements over the _<table> relations, in an order that resolves (entity_names apart)."""
    scope = scope or Scope()
    current = f"doc_id IN {_CURRENT}"
    documents = f"SELECT doc_id FROM {base_name('documents')} WHERE {current}"
    if where := scope.document_filter():
        current = f"doc_id IN ({documents} AND {where})"
    statements = []
    for name in TABLES:
        conditions = [current] if name in DOCUMENT_TABLES else []
        if name == "entities" and scope.types:
            conditions.append(f"type IN ({', '.join(quoted(t) for t in scope.types)})")
        where_clause = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        statements.append(f"CREATE VIEW {name} AS SELECT * FROM {base_name(name)}{where_clause}")
    statements.append(
        f"CREATE VIEW document_versions AS SELECT *, doc_id IN {_CURRENT} AS is_current FROM {base_name('documents')}"
    )
    return statements


def add_entity_names(con: duckdb.DuckDBPyConnection, materialize: bool = False) -> None:
    """Define entity_names on a connection that has the views: a view, or a table for a database file
    that DuckDB opens without khabar (the display-name function lives in this process only)."""
    from tasks.entities.keys import display_name
    from tasks.storage import arrow_array

    def names(surfaces: pa.Array, keys: pa.Array) -> pa.Array:
        names = [display_name(s, k) for s, k in zip(surfaces.to_pylist(), keys.to_pylist(), strict=True)]
        return arrow_array(names, pa.string())

    varchar = duckdb.sqltype("VARCHAR")
    con.create_function(_DISPLAY_NAME, names, [varchar, varchar], varchar, type=duckdb.func.ARROW, side_effects=False)
    con.execute(f"CREATE {'TABLE' if materialize else 'VIEW'} entity_names AS {ENTITY_NAMES_SQL}")

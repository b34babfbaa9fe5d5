"""The views readers through khabar see (`khabar sql`, reports, `khabar export`): each input's current content once.

A file whose content changes becomes a new document; the old one stays in the tables, superseded.
A document is current while some row of `files` names it (its file's content now, or the content of
a file that is missing from the raw folder: an archive forgets nothing by accident). The views
`documents`, `sentences`, `tokens` and `entities` hold current documents only; `document_versions`
holds every document with `is_current`. Each table's committed rows are registered as `_<table>`.
"""

from __future__ import annotations

from schemas import DOCUMENT_TABLES, TABLES

_CURRENT = "(SELECT doc_id FROM _files WHERE doc_id IS NOT NULL)"
VIEWS = (*TABLES, "document_versions")


def base_name(table: str) -> str:
    """The name a table's committed rows are registered under, below the views."""
    return f"_{table}"


def view_statements() -> list[str]:
    """CREATE VIEW statements over the _<table> relations, in an order that resolves."""
    statements = []
    for name in TABLES:
        where = f" WHERE doc_id IN {_CURRENT}" if name in DOCUMENT_TABLES else ""
        statements.append(f"CREATE VIEW {name} AS SELECT * FROM {base_name(name)}{where}")
    statements.append(
        f"CREATE VIEW document_versions AS SELECT *, doc_id IN {_CURRENT} AS is_current FROM {base_name('documents')}"
    )
    return statements

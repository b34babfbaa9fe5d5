"""What reports read: a date range, sources and entity types, and how long their top lists are.

Light on purpose (no DuckDB, no Arrow): the command line builds one before it opens any table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

DEFAULT_TOP = 10


@dataclass(frozen=True)
class Scope:
    """What reports read: documents published in [since, until], from these sources, entities of these types."""

    since: date | None = None
    until: date | None = None
    sources: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    top: int = DEFAULT_TOP

    def document_filter(self) -> str:
        """A WHERE condition on the documents table, or "" for every document."""
        conditions = []
        if self.since:
            conditions.append(f"published_date >= DATE '{self.since.isoformat()}'")
        if self.until:
            conditions.append(f"published_date <= DATE '{self.until.isoformat()}'")
        if self.sources:
            conditions.append(f"source IN ({', '.join(quoted(s) for s in self.sources)})")
        return " AND ".join(conditions)

    def describe(self) -> str:
        """The scope in words, for a report's header; "" when it is everything."""
        parts = []
        if self.since or self.until:
            parts.append(f"published {self.since or '…'} to {self.until or '…'}")
        if self.sources:
            parts.append("sources " + ", ".join(self.sources))
        if self.types:
            parts.append("types " + ", ".join(self.types))
        return "; ".join(parts)


def quoted(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"

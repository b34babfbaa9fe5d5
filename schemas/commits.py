"""_commits: one row per step khabar committed, with the version of every table as of that step.

Delta Lake commits one table at a time; a step (a shard's rows, a run's bookkeeping, a reprocess)
touches several. This table pins the versions that belong together: khabar reads the tables at the
versions of its last row (or of the last row of a run, for --as-of), never half a step.
"""

import pyarrow as pa

from schemas._columns import UTC_TIMESTAMP, column, table_schema

COMMIT_KINDS = ("shard", "run", "reprocess", "compact", "vacuum", "prune", "recover", "upgrade")


def _version_columns(tables: tuple[str, ...]) -> list[pa.Field]:
    return [
        column(f"{name}_version", pa.int64(), f"Delta version of {name} as of this step", nullable=False)
        for name in tables
    ]


def commits_schema(tables: tuple[str, ...]) -> pa.Schema:
    return table_schema(
        "_commits",
        "one row per committed step (the versions of every table that belong together)",
        [
            column("run_id", pa.string(), "The run (or maintenance command) that committed the step", nullable=False),
            column("kind", pa.string(), " | ".join(COMMIT_KINDS), nullable=False),
            column("committed_at", UTC_TIMESTAMP, "When the step was committed (UTC)", nullable=False),
            *_version_columns(tables),
        ],
    )

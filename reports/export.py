"""A DuckDB database file of views over one snapshot of the tables, for the DuckDB CLI and BI tools.

DuckDB reads Delta tables only through its `delta` extension, which it downloads on first use; this
file needs nothing: each view reads the Parquet files of the snapshot it was written from, so it
shows exactly the rows khabar committed then. Written again after each run, it follows the tables;
an old one keeps showing its snapshot until `khabar vacuum` deletes files it names.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import duckdb
import pyarrow as pa

from reports.scope import quoted
from reports.views import add_entity_names, base_name, view_statements
from schemas import TABLES
from tasks.storage import empty_table
from tasks.tables import Snapshot


def export_duckdb(snapshot: Snapshot, path: str | Path) -> Path:
    """Write (atomically: a temporary file renamed over `path`) one view per table over the snapshot's files."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".tmp-{uuid.uuid4().hex}-{target.name}")
    try:
        with duckdb.connect(str(tmp)) as con:
            for name, schema in TABLES.items():
                files = [str(p.absolute()) for p in snapshot.files(name)]
                if files:
                    listed = ", ".join(quoted(f) for f in files)
                    columns = ", ".join(f'"{f.name}"' for f in schema)  # the schema's order; a part
                    # written before the table gained a column reads it as nulls (union_by_name)
                    con.execute(
                        f"CREATE VIEW {base_name(name)} AS SELECT {columns} FROM read_parquet([{listed}], "
                        "union_by_name = true)"
                    )
                else:  # no file yet: an empty table with the table's columns
                    empty: pa.Table = empty_table(schema)  # noqa: F841 (read by DuckDB's replacement scan)
                    con.execute(f"CREATE TABLE {base_name(name)} AS SELECT * FROM empty")
            for statement in view_statements():
                con.execute(statement)
            add_entity_names(con, materialize=True)
            run = quoted(snapshot.run_id)
            con.execute(
                f"CREATE VIEW khabar_snapshot AS SELECT {run} AS run_id, {quoted(str(snapshot.committed_at))} "
                "AS committed_at"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
        Path(f"{tmp}.wal").unlink(missing_ok=True)
    return target

"""runs: one row per pipeline run or reprocess. Grain: run_id."""

import pyarrow as pa

from schemas._columns import UTC_TIMESTAMP, column, table_schema

RUN_KINDS = ("nightly", "manual", "reprocess")

RUNS = table_schema(
    "runs",
    "one row per run or reprocess (run_id)",
    [
        column("run_id", pa.string(), "Run identifier: UTC start time plus a random suffix", nullable=False),
        column(
            "kind",
            pa.string(),
            "nightly (a scheduled deployment run) | manual (khabar run) | reprocess",
            nullable=False,
        ),
        column(
            "trigger",
            pa.string(),
            "What started it: schedule | deployment (run by hand through Prefect) | cli | ci",
            nullable=False,
        ),
        column("fingerprint", pa.string(), "Pipeline fingerprint the run wrote rows with", nullable=False),
        column("fingerprint_detail", pa.string(), "The fingerprint's parts, as JSON", nullable=False),
        column("flow_run_id", pa.string(), "Prefect flow-run id"),
        column("started_at", UTC_TIMESTAMP, "Start (UTC)", nullable=False),
        column("finished_at", UTC_TIMESTAMP, "End (UTC)", nullable=False),
        column("status", pa.string(), "completed | completed_with_failures", nullable=False),
        column("files_seen", pa.int32(), "Input files found in the raw folder", nullable=False),
        column(
            "files_read", pa.int32(), "Files read this run (new or changed); the rest were unchanged", nullable=False
        ),
        column("docs_new", pa.int32(), "Documents processed and written this run", nullable=False),
        column(
            "docs_skipped",
            pa.int32(),
            "Files whose content was already processed (unchanged or duplicate)",
            nullable=False,
        ),
        column("docs_reprocessed", pa.int32(), "Documents whose rows were recomputed and replaced", nullable=False),
        column("docs_failed", pa.int32(), "Documents lost to a failing shard (retried next run)", nullable=False),
        column("files_quarantined", pa.int32(), "Files quarantined this run", nullable=False),
        column("n_shards", pa.int32(), "Shard tasks run", nullable=False),
        column("workers", pa.int32(), "Worker processes allowed", nullable=False),
        column("duration_s", pa.float64(), "Wall time of the run in seconds", nullable=False),
    ],
    version=2,
)

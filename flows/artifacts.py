"""What a flow run publishes to Prefect: its summary as markdown, and the top entities it wrote.

Imported with the flows (flows.nightly, flows.reprocess), which `khabar run` imports while its first
shards run: DuckDB and the report queries are then loaded there, not after the last shard.
"""

from __future__ import annotations

import json
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows.shard_runner import in_flow_run
from flows.summary import RunSummary
from reports.query import top_entities


def summary_markdown(s: RunSummary) -> str:
    detail = json.loads(s.fingerprint_detail)
    lines = [
        f"# khabar {s.kind} run `{s.run_id}`",
        "",
        "| metric | value |",
        "|---|---|",
        f"| status | {s.status} |",
        f"| trigger | {s.trigger} |",
        f"| fingerprint | `{s.fingerprint}` ({', '.join(f'{k} {v[:12]}' for k, v in detail.items())}) |",
        f"| files seen | {s.files_seen} |",
        f"| files read (new or changed) | {s.files_read} |",
        f"| documents new | {s.docs_new} |",
        f"| documents skipped (already processed) | {s.docs_skipped} |",
        f"| documents reprocessed | {s.docs_reprocessed} |",
        f"| documents failed | {s.docs_failed} |",
        f"| files quarantined | {s.files_quarantined} |",
        f"| tokens / entities written | {s.n_tokens} / {s.n_entities} |",
        f"| shards / workers | {s.n_shards} / {s.workers} |",
        f"| duration | {s.duration_s:.1f} s |",
    ]
    if s.quarantined:
        lines += ["", "Quarantined by reason: " + ", ".join(f"`{k}` {v}" for k, v in sorted(s.quarantined.items()))]
    if s.docs_missing:
        lines += ["", f"Not reprocessed, source file gone or changed: {len(s.docs_missing)} documents"]
    return "\n".join(lines) + "\n"


class TopEntitiesReader:
    """The top entities of a run's new parts, for its table artifact, read on a thread from the moment its last
    shard is committed (start, the run's on_shards_done), while the run writes its files table and record:
    0.12 s of a 20,000-article run's end, on a core its workers no longer use."""

    def __init__(self, out_dir: str) -> None:
        self.out_dir = out_dir
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="khabar-top-entities")
        self._reading: Future[list[dict[str, Any]]] | None = None

    def __enter__(self) -> TopEntitiesReader:
        return self

    def __exit__(self, *exc: object | TracebackType) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def start(self, entity_parts: list[str]) -> None:
        self._reading = self._pool.submit(top_entities, self.out_dir, list(entity_parts))

    def result(self, entity_parts: list[str]) -> list[dict[str, Any]]:
        """The top entities of these parts: the read started with them, else one now."""
        return self._reading.result() if self._reading is not None else top_entities(self.out_dir, entity_parts)


def publish_artifacts(
    s: RunSummary, out_dir: str, entity_parts: list[str], top: TopEntitiesReader | None = None
) -> None:
    """The run's Prefect artifacts: a markdown summary and a table of the top entities in its new parts (read
    by `top` if given; none outside a flow run: a run that found nothing to read runs without Prefect)."""
    if not in_flow_run():
        return
    top_rows = top.result(entity_parts) if top is not None else top_entities(out_dir, entity_parts)

    create_markdown_artifact(markdown=summary_markdown(s), key="khabar-run-summary", description=f"khabar {s.kind} run")
    create_table_artifact(
        table=top_rows or [{"type": "", "name": "(no entities written)", "mentions": 0}],
        key="khabar-run-top-entities",
        description=f"Top entities written by run {s.run_id}",
    )

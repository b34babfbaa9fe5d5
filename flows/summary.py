"""What a run reports: its summary record (the runs row), the console lines and the Prefect artifacts."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime


@dataclass
class RunSummary:
    run_id: str
    kind: str
    trigger: str
    fingerprint: str
    fingerprint_detail: str
    flow_run_id: str | None
    started_at: datetime
    finished_at: datetime
    status: str
    files_seen: int = 0
    files_read: int = 0
    docs_new: int = 0
    docs_skipped: int = 0
    docs_reprocessed: int = 0
    docs_failed: int = 0
    files_quarantined: int = 0
    n_shards: int = 0
    workers: int = 0
    duration_s: float = 0.0
    n_tokens: int = 0
    n_entities: int = 0
    shard_seconds: float = 0.0  # worker time inside shards, summed over workers (not a runs column)
    quarantined: dict[str, int] = field(default_factory=dict)  # reason -> files
    docs_missing: list[str] = field(default_factory=list)  # reprocess: documents whose file is gone or changed

    def record(self) -> dict:
        """The runs-table row."""
        return asdict(self)


def trigger_of_this_run() -> str:
    """schedule (the deployment's scheduler), deployment (run through Prefect by hand), ci or cli."""
    from flows.shard_runner import in_flow_run

    flow_run = None
    if in_flow_run():
        from prefect.context import FlowRunContext

        context = FlowRunContext.get()
        flow_run = context.flow_run if context else None
    if flow_run is not None and flow_run.deployment_id is not None:
        return "schedule" if flow_run.auto_scheduled else "deployment"
    return "ci" if os.environ.get("CI") or os.environ.get("GITHUB_ACTIONS") else "cli"


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


def publish_artifacts(s: RunSummary, out_dir: str, entity_parts: list[str]) -> None:
    """The run's Prefect artifacts: a markdown summary and a table of the top entities in its new parts
    (none outside a flow run: a run that found nothing to read runs without Prefect)."""
    from flows.shard_runner import in_flow_run

    if not in_flow_run():
        return
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    from reports.query import top_entities as top

    top_entities = top(out_dir, entity_parts)

    create_markdown_artifact(markdown=summary_markdown(s), key="khabar-run-summary", description=f"khabar {s.kind} run")
    create_table_artifact(
        table=top_entities or [{"type": "", "name": "(no entities written)", "mentions": 0}],
        key="khabar-run-top-entities",
        description=f"Top entities written by run {s.run_id}",
    )

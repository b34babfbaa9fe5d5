"""What a run reports: its summary record (the runs row), the console lines and the Prefect artifacts."""

from __future__ import annotations

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

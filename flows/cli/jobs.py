"""Commands that start jobs or servers: reprocess, serve, server."""

from __future__ import annotations

import os
import socket
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from flows.cli.common import (
    DaskAddressOpt,
    ExecutorOpt,
    LayoutOpt,
    NerModelOpt,
    NerOpt,
    OutOpt,
    RawOpt,
    UserError,
    WorkersOpt,
    app,
    build_settings,
    failed,
    flag,
    require_output_folder,
    without_prefix,
)
from flows.cli.run import check_folders, check_runnable, run_with_progress, waited
from flows.output import (
    bold_line,
    info,
    stderr,
    stdout,
)


@app.command()
def reprocess(
    stale: Annotated[bool, flag("--stale", text="Documents whose fingerprint is not the current one")] = False,
    everything: Annotated[bool, flag("--all", text="Every document")] = False,
    since: Annotated[
        datetime | None, typer.Option("--since", formats=["%Y-%m-%d"], help="Documents published on or after a date")
    ] = None,
    source: Annotated[str | None, typer.Option("--source", help="Documents of one source")] = None,
    doc_ids: Annotated[list[str] | None, typer.Option("--doc-id", help="A document id (repeatable)")] = None,
    dry_run: Annotated[bool, flag("--dry-run", text="Print what would be reprocessed; change nothing")] = False,
    raw: RawOpt = None,
    out: OutOpt = None,
    workers: WorkersOpt = None,
    ner: NerOpt = None,
    ner_model: NerModelOpt = None,
    layout: LayoutOpt = None,
    executor: ExecutorOpt = None,
    dask_address: DaskAddressOpt = None,
) -> None:
    """Recompute chosen documents with the current pipeline and replace their rows in every table at once.

    Filters combine. Readers see either the old rows or the new ones, never both and never
    neither; a document whose raw file is gone or changed keeps its old rows.

    Example: `khabar reprocess --stale --dry-run`
    """
    from tasks.reprocess import Selection

    selection = Selection(
        stale=stale,
        everything=everything,
        since=since.date() if since else None,
        source=source,
        doc_ids=tuple(doc_ids or ()),
    )
    try:
        if selection.is_empty():
            raise UserError("choose what to reprocess: --stale, --all, --since DATE, --source NAME or --doc-id ID")
        settings = build_settings(
            raw_dir=raw,
            out_dir=out,
            workers=workers,
            ner=ner,
            ner_model=ner_model,
            layout=layout,
            executor=executor,
            dask_address=dask_address,
        )
        if not dry_run:
            check_folders(settings)
        check_runnable(settings)
        planned = _reprocess_plan(settings, selection)
        if dry_run:
            _print_plan(planned, selection)
            return
        if not planned[0]:
            info(f"nothing to reprocess: no {selection.describe()} can be recomputed")
            return
        summary = run_with_progress(settings, "reprocess", selection)
    except UserError as exc:
        raise failed(exc) from None
    bold_line(
        f"khabar reprocess {summary.run_id}",
        f": {summary.status} in {waited(summary)}; "
        f"{summary.docs_reprocessed} documents reprocessed, {summary.docs_failed} failed, "
        f"{len(summary.docs_missing)} skipped (raw file gone or changed)",
    )
    if summary.docs_failed:
        raise typer.Exit(1)


def _reprocess_plan(settings, selection):
    from flows.settings import pipeline_fingerprint
    from tasks.reprocess import PlanError, plan
    from tasks.storage import OutputFolderError

    require_output_folder(settings.out_dir)
    try:
        return plan(settings.raw_dir, settings.out_dir, selection, pipeline_fingerprint(settings)[0])
    except (PlanError, OutputFolderError) as exc:
        raise UserError(str(exc)) from None


def _print_plan(planned, selection) -> None:
    ready, missing = planned
    info(
        f"would reprocess {len(ready)} {selection.describe()}; {len(missing)} more cannot be (raw file gone or changed)"
    )
    for c in ready[:20]:
        info(f"  {c.doc_id}  {c.path}  (fingerprint {c.fingerprint})")
    if len(ready) > 20:
        info(f"  ... and {len(ready) - 20} more")


@app.command()
def serve(
    cron: Annotated[str, typer.Option("--cron", help="When to run, as a cron expression")] = "0 2 * * *",
    timezone: Annotated[str, typer.Option("--timezone", help="Time zone of the cron expression")] = "UTC",
    print_only: Annotated[
        bool, flag("--print", text="Show the deployment, its schedule and next run times; start nothing")
    ] = False,
    raw: RawOpt = None,
    out: OutOpt = None,
    workers: WorkersOpt = None,
    ner: NerOpt = None,
    ner_model: NerModelOpt = None,
    layout: LayoutOpt = None,
    executor: ExecutorOpt = None,
    dask_address: DaskAddressOpt = None,
) -> None:
    """Register the nightly deployment with a cron schedule on a Prefect server, and serve its runs.

    Needs a real Prefect server (`khabar server`, then export PREFECT_API_URL). Runs until
    interrupted; scheduled runs and runs started with `prefect deployment run khabar-nightly/nightly`
    execute here.

    Example: `khabar serve --cron "0 2 * * *" --timezone Asia/Riyadh`
    """
    from flows.deploy import ServerRequiredError, describe, serve_nightly

    try:
        settings = build_settings(
            raw_dir=raw,
            out_dir=out,
            workers=workers,
            ner=ner,
            ner_model=ner_model,
            layout=layout,
            executor=executor,
            dask_address=dask_address,
        )
        check_runnable(settings)
        _check_cron(cron, timezone)
        if print_only:
            for line in describe(settings, cron, timezone):
                stdout.print(line)
            return
        try:
            serve_nightly(settings, cron, timezone)
        except ServerRequiredError as exc:
            raise UserError(str(exc)) from None
    except UserError as exc:
        raise failed(exc) from None


def _check_cron(cron: str, timezone: str) -> None:
    from pydantic import ValidationError as PydanticError

    try:
        from prefect.client.schemas.schedules import CronSchedule

        CronSchedule(cron=cron, timezone=timezone)
    except PydanticError as exc:
        raise UserError(f"invalid schedule: {without_prefix(exc.errors()[0]['msg'])}") from None


@app.command()
def server(
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on")] = 4200,
    host: Annotated[
        str,
        typer.Option(
            "--host",
            help="Address to listen on: 127.0.0.1 (this machine only), or 0.0.0.0 when Dask workers on other "
            "hosts report their shard tasks to it (see README, Scaling out)",
        ),
    ] = "127.0.0.1",
) -> None:
    """Start a local Prefect server (SQLite in the Prefect home) for schedules, run history and the UI.

    Example: `khabar server --port 4200`, then in another shell
    `export PREFECT_API_URL=http://127.0.0.1:4200/api` and `khabar serve`.
    """

    prefect = str(Path(sys.executable).with_name("prefect"))
    shown = "127.0.0.1" if host in ("127.0.0.1", "localhost") else (socket.getfqdn() if host == "0.0.0.0" else host)
    stderr.print(
        f"Prefect server on http://{shown}:{port} (UI there); point khabar at it with\n"
        f"  export PREFECT_API_URL=http://{shown}:{port}/api"
    )
    env = {**os.environ}
    env.pop("PREFECT_API_URL", None)  # the server itself must not look for another API
    # This process becomes the server (no child left behind when it is stopped or killed).
    sys.stderr.flush()
    os.execve(prefect, [prefect, "server", "start", "--host", host, "--port", str(port)], env)

"""Commands that keep the tables healthy: compact, vacuum, prune."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from flows.cli.common import JobError, OutOpt, app, existing_output_folder, fail, failed, flag
from flows.output import info, plural


@contextmanager
def _one_sentence(out_dir: Path) -> Iterator[None]:
    """One sentence, never a traceback: exit 1 for a folder in use or a full disk (the job could not run),
    2 for a folder refused or a bad value (as for every command)."""
    from tasks.lock import LockedError
    from tasks.storage import OutputFolderError, write_failure

    try:
        yield
    except LockedError as exc:
        raise failed(JobError(str(exc))) from None
    except (OutputFolderError, ValueError) as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise failed(JobError(write_failure(out_dir, exc))) from None


@app.command()
def compact(out: OutOpt = None) -> None:
    """Merge each table's small files (one per shard of every run) into files of about 64 MB.

    Rows stay the same; the change is one step, at most one Delta commit per table, and readers
    see the tables before it or after it. The replaced files stay until `khabar vacuum`.

    Example: `khabar compact --out data/processed`
    """
    from tasks.maintenance import compact as compact_tables

    out_dir = existing_output_folder(out)
    with _one_sentence(out_dir):
        result = compact_tables(out_dir)
    if not result.merged:
        info("nothing to compact: no table holds two small files")
    for table, (before, after) in result.merged.items():
        info(f"{table}: {plural(before, 'file')} merged into {after}")


@app.command()
def vacuum(
    retain_days: Annotated[
        float,
        typer.Option("--retain-days", min=0, help="Keep every file a version younger than this many days needs"),
    ] = 7,
    dry_run: Annotated[bool, flag("--dry-run", text="List what would be deleted; delete nothing")] = False,
    out: OutOpt = None,
) -> None:
    """Delete the files no version younger than --retain-days needs: files replaced by reprocess,
    compact or prune, and the files snapshots of older runs. Never a file the current tables read;
    `--as-of` a run older than that no longer works.

    Example: `khabar vacuum --retain-days 30 --dry-run`
    """
    from tasks.maintenance import vacuum as vacuum_tables

    out_dir = existing_output_folder(out)
    with _one_sentence(out_dir):
        result = vacuum_tables(out_dir, retain_days, dry_run=dry_run)
    total = sum(len(names) for names in result.deleted.values())
    verb = "would delete" if dry_run else "deleted"
    info(f"{verb} {plural(total, 'file')} older than {retain_days:g} days that no current table reads")
    for table, names in result.deleted.items():
        info(f"  {table}: {len(names)}")


@app.command()
def prune(
    missing: Annotated[
        bool, flag("--missing", text="Remove files gone from the raw folder and the documents only they held")
    ] = False,
    dry_run: Annotated[bool, flag("--dry-run", text="Count what would be removed; remove nothing")] = False,
    out: OutOpt = None,
) -> None:
    """Remove, on purpose, what the raw folder no longer holds. A file that disappears keeps its
    document (an archive forgets nothing by accident; `files.status` says `missing`); this command
    removes such files and their documents from every table in one step.

    Example: `khabar prune --missing --dry-run`
    """
    from tasks.maintenance import prune_missing

    if not missing:
        raise fail("say what to prune: --missing")
    out_dir = existing_output_folder(out)
    with _one_sentence(out_dir):
        result = prune_missing(out_dir, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    info(
        f"{verb} {plural(len(result.paths), 'missing file')} and {plural(len(result.doc_ids), 'document')} "
        "only they held"
    )

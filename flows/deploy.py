"""The nightly deployment: a cron schedule served by a long-running process against a real Prefect server."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from flows.settings import Settings

DEPLOYMENT_NAME = "nightly"
FLOW_NAME = "khabar-nightly"


class ServerRequiredError(RuntimeError):
    pass


def deployment_parameters(settings: Settings) -> dict[str, Any]:
    """The flow's parameters for scheduled runs: absolute folders, so the serving directory does not matter."""
    from flows.settings import flow_parameters

    parameters = flow_parameters(settings)
    return parameters | {
        "raw_dir": str(Path(settings.raw_dir).resolve()),
        "out_dir": str(Path(settings.out_dir).resolve()),
        "max_file_bytes": settings.max_file_bytes,
        "ner": asdict(parameters["ner"]),
        "kind": "nightly",
        "lock_wait_s": max(settings.lock_wait_s, 600.0),  # a scheduled run waits for a manual one
    }


def next_run_times(cron: str, timezone: str, n: int = 5) -> list[datetime]:
    from prefect.server.schemas.schedules import CronSchedule

    dates: list[datetime] = asyncio.run(CronSchedule(cron=cron, timezone=timezone).get_dates(n=n))  # type: ignore[arg-type]
    return dates


def describe(settings: Settings, cron: str, timezone: str) -> list[str]:
    """What `khabar serve` would register, without contacting a server."""
    from flows.prefect_api import configured_api_url

    lines = [
        f"deployment: {FLOW_NAME}/{DEPLOYMENT_NAME}",
        f"schedule:   cron {cron!r} in {timezone}",
        f"server:     {configured_api_url() or 'none configured (start one with `khabar server`)'}",
        "parameters:",
        *(f"  {k} = {v}" for k, v in deployment_parameters(settings).items()),
        "next runs:",
        *(f"  {t.isoformat()}" for t in next_run_times(cron, timezone)),
    ]
    return lines


def serve_nightly(settings: Settings, cron: str, timezone: str) -> None:
    """Register the deployment with its schedule and execute its runs until interrupted."""
    from prefect import serve
    from prefect.schedules import Cron

    from flows.nightly import nightly
    from flows.prefect_api import configured_api_url

    if not configured_api_url():
        raise ServerRequiredError(
            "schedules need a real Prefect server: start one with `khabar server`, "
            "then export PREFECT_API_URL=http://127.0.0.1:4200/api"
        )
    deployment = nightly.to_deployment(
        name=DEPLOYMENT_NAME,
        schedules=[Cron(cron, timezone=timezone)],
        parameters=deployment_parameters(settings),
        description="khabar: process new and changed articles into the Parquet tables",
    )
    serve(deployment, print_starting_message=True)  # type: ignore[arg-type]

"""The query layer: DuckDB views over the committed Parquet files, and one .sql file per report."""

from __future__ import annotations

from importlib import resources


class UnknownReportError(ValueError):
    pass


def report_names() -> list[str]:
    return sorted(p.name.removesuffix(".sql") for p in resources.files(__name__).iterdir() if p.name.endswith(".sql"))


def report_sql(name: str) -> str:
    if name not in report_names():
        raise UnknownReportError(f"unknown report {name!r}; choose one of: {', '.join(report_names())}")
    return resources.files(__name__).joinpath(f"{name}.sql").read_text(encoding="utf-8")


def report_description(name: str) -> str:
    """The first header comment line, after the report's name."""
    first = report_sql(name).splitlines()[0]
    return first.removeprefix("--").strip().removeprefix(f"{name}:").strip()

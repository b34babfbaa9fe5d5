"""The HTML report: one self-contained page (Vega-Lite charts and tables, right to left) from the report queries.

Vega-Lite charts, written with altair and drawn in the browser by the Vega bundle that vl-convert
carries, inlined into the page: no network, and the browser shapes the Arabic in every label, axis and
tooltip (a chart drawn to an image elsewhere would need the fonts and shaping there).
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reports import report_sql
from reports.query import ReadOnlyTables, run_query
from reports.scope import Scope
from schemas.entities import ENTITY_TYPES

TYPE_LABELS = {"PERS": "أشخاص", "LOC": "أماكن", "ORG": "منظمات", "MISC": "أخرى"}
TYPE_COLORS = {"PERS": "#2f6f9f", "LOC": "#2e8b57", "ORG": "#b5651d", "MISC": "#7a5195"}
# Common Arabic-capable fonts on Windows, macOS, Android and Linux, then what the system has.
FONT_STACK = (
    '"Noto Naskh Arabic", "Noto Sans Arabic", "Segoe UI", Tahoma, "Geeza Pro", "Arabic Typesetting", '
    '"DejaVu Sans", Arial, sans-serif'
)
_ROW_HEIGHT = 24  # bar charts fill their column ("container" width) and grow with their rows


@dataclass(frozen=True)
class Section:
    """The rows of one report query, as dictionaries of JSON-ready values."""

    columns: list[str]
    rows: list[dict[str, Any]]


def write_html_report(tables: ReadOnlyTables, path: str | Path, scope: Scope, source: str) -> Path:
    """Run the reports over the tables and write the page to path (atomically: a temporary file renamed over it)."""
    html = render_html_report(tables, scope, source)
    target = Path(path)
    tmp = target.with_name(f".tmp-{uuid.uuid4().hex}-{target.name}")
    try:
        tmp.write_text(html, encoding="utf-8")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def render_html_report(tables: ReadOnlyTables, scope: Scope, source: str) -> str:
    """The page as a string; source names the output folder in its header."""
    import jinja2

    sections = {
        name: _section(tables, name)
        for name in ("overview", "top-entities", "entity-timeline", "cooccurrence", "source-coverage", "problem-files")
    }
    top = sections["top-entities"].rows
    types = [t for t in ENTITY_TYPES if any(r["type"] == t for r in top)]
    charts = {f"top-{t}": _top_chart([r for r in top if r["type"] == t], TYPE_COLORS[t]) for t in types}
    if sections["entity-timeline"].rows:
        charts["timeline"] = _timeline_chart(sections["entity-timeline"].rows)
    if sections["cooccurrence"].rows:
        charts["cooccurrence"] = _matrix_chart(sections["cooccurrence"].rows, 15)
    if sections["source-coverage"].rows:
        charts["sources"] = _sources_chart(sections["source-coverage"].rows)
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("reports", "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )
    return environment.get_template("report.html.j2").render(
        overview=sections["overview"].rows[0],
        pairs=sections["cooccurrence"].rows[: 2 * scope.top],
        sections=sections,
        types=types,
        type_labels=TYPE_LABELS,
        charts=charts,
        scope=scope.describe(),
        source=source,
        generated_at=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        font_stack=FONT_STACK,
        vega_script=_vega_bundle(),
    )


def _section(tables: ReadOnlyTables, name: str) -> Section:
    columns, rows = run_query(tables, report_sql(name))
    return Section(columns, [dict(zip(columns, map(_json_value, row), strict=True)) for row in rows])


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


@functools.cache
def _vega_bundle() -> str:
    """Vega, Vega-Lite and vega-embed as one script, for the Vega-Lite version altair writes."""
    import altair as alt
    import vl_convert

    version = ".".join(alt.SCHEMA_VERSION.removeprefix("v").split(".")[:2])
    bundle = vl_convert.javascript_bundle(None, vl_version=version)  # type: ignore[arg-type]  # None: the default snippet
    return bundle.replace("</script", "<\\/script")


def _config(chart: Any) -> dict[str, Any]:
    """The chart's Vega-Lite spec with the page's fonts; labels long enough for Arabic names."""
    spec: dict[str, Any] = (
        chart.configure(font=FONT_STACK)
        .configure_axis(labelFontSize=13, titleFontSize=12, labelLimit=280)
        .configure_view(stroke=None)
        .to_dict()
    )
    return spec


def _bar_base(rows: Sequence[dict[str, Any]], category: str, title: str) -> Any:
    """Horizontal bars that grow from the right, their labels on the right: the reading order of the page."""
    import altair as alt

    order = [r[category] for r in rows]
    return (
        alt.Chart(alt.Data(values=list(rows)))
        .encode(
            y=alt.Y(f"{category}:N", sort=order, title=None, axis=alt.Axis(orient="right", labelPadding=6)),
        )
        .properties(width="container", height=max(_ROW_HEIGHT * len(rows), 40), title=title)
    )


def _top_chart(rows: Sequence[dict[str, Any]], color: str) -> dict[str, Any]:
    """Mentions (the long, light bar) and documents (the short, dark one) of each top entity."""
    import altair as alt

    base = _bar_base(rows, "name", "")
    # Room past the longest bar for its count, written just beyond each bar's end.
    x_scale = alt.Scale(reverse=True, domain=[0, 1.15 * max(r["n_mentions"] for r in rows)], nice=False)
    tooltip = [
        alt.Tooltip("name:N", title="الاسم"),
        alt.Tooltip("n_mentions:Q", title="الإشارات"),
        alt.Tooltip("n_documents:Q", title="الوثائق"),
        alt.Tooltip("canonical_key:N", title="مفتاح التجميع"),
    ]
    mentions = base.mark_bar(color=color, opacity=0.35).encode(
        x=alt.X("n_mentions:Q", title="الإشارات والوثائق", scale=x_scale, axis=alt.Axis(tickMinStep=1, format="d")),
        tooltip=tooltip,
    )
    documents = base.mark_bar(color=color, size=8).encode(
        x=alt.X("n_documents:Q", scale=x_scale, axis=None), tooltip=tooltip
    )
    labels = base.mark_text(align="right", dx=-4, fontSize=12).encode(
        x=alt.X("n_mentions:Q", scale=x_scale, axis=None), text="n_mentions:Q", tooltip=tooltip
    )
    return _config(alt.layer(mentions, documents, labels))


def _timeline_chart(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    import altair as alt

    names = list(dict.fromkeys(r["name"] for r in rows))
    chart = (
        alt.Chart(alt.Data(values=list(rows)))
        .mark_line(point=True)
        .encode(
            x=alt.X("published_date:T", title="تاريخ النشر", axis=alt.Axis(format="%Y-%m-%d", tickCount="day")),
            y=alt.Y("n_mentions:Q", title="الإشارات", axis=alt.Axis(tickMinStep=1, format="d")),
            color=alt.Color("name:N", title=None, sort=names, legend=alt.Legend(orient="right", labelLimit=280)),
            tooltip=[
                alt.Tooltip("name:N", title="الاسم"),
                alt.Tooltip("published_date:T", title="التاريخ", format="%Y-%m-%d"),
                alt.Tooltip("n_mentions:Q", title="الإشارات"),
                alt.Tooltip("n_documents:Q", title="الوثائق"),
            ],
        )
        .properties(width="container", height=260)
    )
    return _config(chart)


def _matrix_chart(pairs: Sequence[dict[str, Any]], most: int) -> dict[str, Any]:
    """The entities of the strongest pairs (at most `most`) as a symmetric matrix: a cell per pair
    between them, darker for more shared documents."""
    import altair as alt

    names = list(dict.fromkeys(name for p in pairs for name in (p["name_a"], p["name_b"])))[:most]
    shown = set(names)
    cells = [
        {"row": a, "column": b, "n_documents": p["n_documents"]}
        for p in pairs
        if p["name_a"] in shown and p["name_b"] in shown
        for a, b in ((p["name_a"], p["name_b"]), (p["name_b"], p["name_a"]))
    ]
    size = max(22 * len(names), 120)
    chart = (
        alt.Chart(alt.Data(values=cells))
        .mark_rect()
        .encode(
            x=alt.X("column:N", sort=names, title=None, scale=alt.Scale(reverse=True), axis=alt.Axis(labelAngle=-60)),
            y=alt.Y("row:N", sort=names, title=None, axis=alt.Axis(orient="right")),
            color=alt.Color("n_documents:Q", title="وثائق مشتركة", scale=alt.Scale(scheme="blues")),
            tooltip=[
                alt.Tooltip("row:N", title="الكيان"),
                alt.Tooltip("column:N", title="مع"),
                alt.Tooltip("n_documents:Q", title="وثائق مشتركة"),
            ],
        )
        .properties(width=size, height=size)
    )
    return _config(chart)


def _sources_chart(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    import altair as alt

    named = [{**r, "source": r["source"] if r["source"] is not None else "(بلا مصدر)"} for r in rows]
    chart = (
        _bar_base(named, "source", "")
        .mark_bar(color="#4c6a92")
        .encode(
            x=alt.X("n_documents:Q", title="الوثائق", scale=alt.Scale(reverse=True), axis=alt.Axis(format="d")),
            tooltip=[
                alt.Tooltip("source:N", title="المصدر"),
                alt.Tooltip("n_documents:Q", title="الوثائق"),
                alt.Tooltip("entities_per_document:Q", title="كيانات لكل وثيقة"),
            ],
        )
    )
    return _config(chart)

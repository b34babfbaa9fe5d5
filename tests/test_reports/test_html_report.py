"""`khabar report --html`: one self-contained page, right to left, whose charts render in a real browser.

The browser test drives Debian's Chromium with Playwright; `make test` installs Chromium (`make browser`).
Where it cannot, the test is skipped and says why. Regenerate README's screenshot (docs/report.png) with
`KHABAR_UPDATE_SCREENSHOT=1 .venv/bin/pytest tests/test_reports/test_html_report.py -k browser`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from reports import report_sql
from reports.query import connect, run_query

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "report.png"
CHROMIUM_ARGS = [  # as root, in a sandbox-less container, with no network to phone home to
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def write_report(out: Path, path: Path, *options: str) -> str:
    result = CliRunner().invoke(app, ["report", "--html", str(path), "--out", str(out), *options])
    assert result.exit_code == 0, result.output
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def report_page(sample_output, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("html") / "report.html"
    write_report(sample_output, path)
    return path


def chart_specs(html: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="chart-specs">(.*?)</script>', html, re.S)[1])


def top_names(out: Path, entity_type: str) -> list[str]:
    with connect(out) as tables:
        _, rows = run_query(tables, report_sql("top-entities"))
    return [r[2] for r in rows if r[0] == entity_type]


def test_the_page_is_right_to_left_arabic_and_needs_nothing_from_the_network(report_page):
    html = report_page.read_text(encoding="utf-8")
    assert '<html lang="ar" dir="rtl">' in html
    markup = re.sub(r"(<script\b[^>]*>).*?</script>", r"\1", html, flags=re.S)  # the tags, not the code
    assert re.findall(r"<script\b[^>]*>", markup) == [
        "<script>",
        '<script type="application/json" id="chart-specs">',
        "<script>",
    ]
    assert not re.search(r"<(link|img|iframe|object|embed)\b", markup)  # scripts and styles inline, nothing fetched
    assert not re.search(r"url\(", markup)
    assert "vegaEmbed" in html


def test_the_page_holds_every_section_and_the_display_names(report_page, sample_output):
    html = report_page.read_text(encoding="utf-8")
    specs = chart_specs(html)
    assert set(specs) == {"top-PERS", "top-LOC", "top-ORG", "top-MISC", "timeline", "cooccurrence", "sources"}
    loc_names = [row["name"] for row in specs["top-LOC"]["data"]["values"]]
    assert loc_names == top_names(sample_output, "LOC")
    assert "السعودية" in loc_names and "السعوديه" not in loc_names  # as written, not the matching key
    assert "2026-11-03/wahat-news/empty-draft.txt" in html and "empty_text" in html  # the quarantined file
    assert "sahel-daily" in html and "wahat-news" in html  # per-source coverage


def test_filters_narrow_every_section(sample_output, tmp_path):
    html = write_report(
        sample_output, tmp_path / "r.html", "--since", "2026-11-02", "--source", "wahat-news", "--type", "LOC"
    )
    specs = chart_specs(html)
    assert set(specs) == {"top-LOC", "timeline", "cooccurrence", "sources"}
    assert [row["source"] for row in specs["sources"]["data"]["values"]] == ["wahat-news"]
    assert {row["published_date"] for row in specs["timeline"]["data"]["values"]} <= {"2026-11-02", "2026-11-03"}
    with connect(sample_output) as tables:
        _, [(expected,)] = run_query(
            tables,
            "SELECT count(*) FROM entities JOIN documents USING (doc_id) WHERE type = 'LOC'"
            " AND source = 'wahat-news' AND published_date >= DATE '2026-11-02'",
        )
    assert sum(row["n_mentions"] for row in specs["top-LOC"]["data"]["values"]) <= expected
    assert "published 2026-11-02 to …; sources wahat-news; types LOC" in html


def test_a_scope_with_nothing_in_it_still_writes_a_page(sample_output, tmp_path):
    html = write_report(sample_output, tmp_path / "r.html", "--since", "2030-01-01")
    assert chart_specs(html) == {}
    assert "لا كيانات في هذا النطاق" in html


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_the_report_renders_in_a_real_browser(report_page, sample_output, tmp_path):
    chromium = _chromium()
    if chromium is None:
        pytest.skip("no Chromium on this machine (`make browser` installs Debian's, as root)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e .[dev])")

    url = report_page.as_uri()
    errors: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1150, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(url)
            page.wait_for_function(
                "document.querySelectorAll('[data-chart]').length > 0 && document.querySelectorAll("
                "'[data-chart]').length === document.querySelectorAll('[data-chart][data-rendered]').length",
                timeout=30_000,
            )
            charts = page.eval_on_selector_all(
                "[data-chart] svg", "svgs => svgs.map(s => s.closest('[data-chart]').dataset.chart)"
            )
            text = page.inner_text("body")
            loc_chart = page.locator('[data-chart="top-LOC"] svg')
            loc_labels = loc_chart.text_content() or ""
            # Right to left: the names stand to the right of their bars.
            label_x = loc_chart.locator("text", has_text=top_names(sample_output, "LOC")[0]).first.bounding_box()
            bar_x = loc_chart.locator(".mark-rect path").first.bounding_box()
            direction = page.evaluate("getComputedStyle(document.body).direction")
            loc_chart.locator(".mark-rect path").first.hover(force=True)  # the documents bar lies over it
            tooltip = page.wait_for_selector("#vg-tooltip-element.visible", timeout=5_000).inner_text()
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
            if os.environ.get("KHABAR_UPDATE_SCREENSHOT"):
                page.set_viewport_size({"width": 1150, "height": 1500})
                page.screenshot(path=str(SCREENSHOT))
        finally:
            browser.close()

    assert errors == []
    assert requests == [url]  # the page itself, nothing else
    assert sorted(charts) == sorted(chart_specs(report_page.read_text(encoding="utf-8")))
    top = top_names(sample_output, "LOC")[0]
    assert top in text and top in loc_labels
    assert "السعودية" in loc_labels
    assert direction == "rtl"
    assert top in tooltip and "الإشارات" in tooltip
    assert label_x is not None and bar_x is not None and label_x["x"] > bar_x["x"]
    assert shot.stat().st_size > 20_000

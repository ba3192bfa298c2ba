"""The HTML report: escaping, the empty store, 5,000 issues, the charts, the store's weekly
series, and the page in a real (headless) Chromium."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import SQLModel

from impactlink.html import charts
from impactlink.html.rows import ROW_FIELDS, row_data
from impactlink.report_html import PageContext, render_page
from impactlink.store import history
from impactlink.store.engine import open_engine

AS_OF = datetime(2026, 11, 21, tzinfo=UTC)
HOSTILE = '</script><script>alert("x")</script><img src=x onerror=alert(1)> & "quotes"'
LEVELS = ("critical", "high", "medium", "low", "none")


def synthetic_row(i: int, **changes: Any) -> dict[str, Any]:
    """Return one report row as `report --format json` gives it with model v2's keys."""
    n = 20 + i % 50
    s = n // 2 + i % 7
    row: dict[str, Any] = {
        "issue": f"acme/shop#{1000 + i}", "title": f"Checkout fails for basket {i} on Safari",
        "url": f"https://github.com/acme/shop/issues/{1000 + i}",
        "features": ["checkout", "payments"][: 1 + i % 2], "references": [f"acme/shop#{1000 + i}"],
        "responses": n, "satisfied": s, "dissatisfied": n - s,
        "csat": round(100 * s / n, 1), "csat_low": round(100 * s / n - 12.3, 1),
        "csat_high": round(100 * s / n + 11.8, 1), "tickets": 3 + i % 9, "offered": 40,
        "customers_observed": 30 + i % 20, "named_customers": 12 + i % 5,
        "attributed_customers": 8.25 + i % 3, "linked_affected": 60, "linked_affected_low": 50,
        "linked_affected_high": 71, "affected": 41 + i % 13, "affected_low": 35,
        "affected_high": 52, "method": "survey", "arr_at_risk": 12300.5 + i,
        "linked_arr": 20000.0,
        "segments": [{"name": "plan", "value": v, "responses": 10 + k, "satisfied": 4 + k,
                      "csat": 40.0, "customers_observed": 5} for k, v in
                     enumerate(["enterprise", "pro", "free"])],
        "trend": {"delta": -12.5 + i % 25, "previous_csat": 61.0, "previous_responses": 38,
                  "p_value": 0.0123, "significant": i % 3 == 0},
        "pain": 0.3123456, "reach": 45.23456, "score": round(500 - i * 0.0937, 1),
        "level": LEVELS[min(i // 1000, 4)],
        "suggested_links": [{"record": f"zendesk:{i}7", "kind": "ticket", "attribution": 0.71,
                             "score": 4.2, "words": ["checkout", "safari"]}],
        "explanation": {
            "matches": [{"record": f"zendesk:{i}{k}", "kind": "ticket", "attribution": 0.5,
                         "score": 3.14159, "words": ["checkout", "3ds"]} for k in range(5)],
            "level": {"customer_base": 600,
                      "thresholds": {"critical": 12.0, "high": 3.0, "medium": 0.6}},
        },
    }
    row.update(changes)
    return row


def context(**changes: Any) -> PageContext:
    base: dict[str, Any] = {
        "as_of": AS_OF, "window_days": 90, "customer_base": 600,
        "freshness": [("survey-export", AS_OF - timedelta(hours=3)), ("desk", None)],
        "generated": AS_OF}
    base.update(changes)
    return PageContext(**base)


def island(page: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="impact-data">(.*?)</script>', page,
                      re.S)
    assert found
    data: dict[str, Any] = json.loads(found.group(1))
    return data


# -- the page on synthetic rows -----------------------------------------------------------


def test_hostile_titles_keys_features_and_urls_are_escaped() -> None:
    evil = synthetic_row(0, title=HOSTILE, issue="<b>SHOP-1</b>", url="javascript:alert(1)",
                         features=['"><svg onload=alert(1)>'],
                         segments=[{"name": "plan", "value": "<i>x</i>", "responses": 5,
                                    "satisfied": 1}])
    page = render_page([evil, synthetic_row(1)], context(
        freshness=[("<src>", AS_OF)]))
    assert page.count("<script") == 3, "the error hook, the data island and the table script"
    for raw in ("<script>alert", "<img src=x", "<svg onload", "<b>SHOP-1", "<i>x</i>",
                "<src>", 'href="javascript'):
        assert raw not in page, raw
    assert "&lt;/script&gt;&lt;script&gt;alert(&quot;x&quot;)" in page  # the noscript table
    assert "&lt;b&gt;SHOP-1&lt;/b&gt;: CSAT per segment" in page  # an SVG title
    data = island(page)
    assert data["rows"][0][data["fields"].index("title")] == HOSTILE


def test_the_page_needs_no_network() -> None:
    page = render_page([synthetic_row(i) for i in range(30)], context())
    for reference in ('src="', "<link", "@import", "url(", "//cdn", "<iframe"):
        assert reference not in page, reference
    assert "<style>" in page and "function sortRows" in page


def test_the_empty_store_says_no_data_yet_instead_of_an_empty_table() -> None:
    page = render_page([], context(customer_base=None))
    assert "No data yet" in page and "impactlink run --config" in page
    assert 'id="backlog"' not in page and "impact-data" not in page
    assert "customer base unknown" in page and "desk</td><td>never" in page


def test_five_thousand_issues_stay_within_a_few_megabytes() -> None:
    rows = [synthetic_row(i) for i in range(5000)]
    page = render_page(rows, context())
    size = len(page.encode("utf-8"))
    print(f"5,000-issue page: {size:,} bytes")
    assert size < 3_500_000
    data = island(page)
    assert len(data["rows"]) == 5000 and data["pageSize"] == 50
    assert page.count("<tr>") < 100, "rows are rendered a page at a time, not all at once"


def test_header_states_as_of_window_base_levels_and_freshness() -> None:
    page = render_page([synthetic_row(0), synthetic_row(2000)], context())
    assert "As of <time>2026-11-21 00:00 UTC</time>" in page
    assert "window 90 days (2026-08-23 – 2026-11-21)" in page and "customer base 600" in page
    assert '<span class="lv critical">1 critical</span>' in page
    assert '<span class="lv medium">1 medium</span>' in page
    assert "survey-export</td><td>2026-11-20 21:00 UTC</td><td>3 h ago" in page


def test_v2_figures_and_matches_travel_with_each_row() -> None:
    values = dict(zip(ROW_FIELDS, row_data(synthetic_row(0)), strict=True))
    assert values["named_customers"] == 12 and values["attributed_customers"] == 8.25
    assert values["linked_affected"] == 60 and values["linked_arr"] == 20000.0
    assert values["pain"] == 0.3123 and values["delta"] == -12.5
    assert values["significant"] is True
    records = [m[0] for m in values["matches"]]
    assert records == ["zendesk:00", "zendesk:01", "zendesk:02", "zendesk:07"]
    assert values["matches"][-1][5] == 1, "the suggested link is flagged"


def test_rows_without_v2_keys_render_with_those_figures_absent() -> None:
    v1 = synthetic_row(3)
    for key in ("named_customers", "attributed_customers", "linked_affected",
                "linked_affected_low", "linked_affected_high", "linked_arr",
                "suggested_links", "explanation"):
        v1.pop(key)
    values = dict(zip(ROW_FIELDS, row_data(v1), strict=True))
    assert values["named_customers"] is None and values["matches"] == []
    assert "No data yet" not in render_page([v1], context())


def test_quotes_are_redacted_and_only_those_the_rows_carry() -> None:
    row = synthetic_row(0, quotes=["Mail me at jo@example.com or see https://x.example/a",
                                   "call +1 415 555 0100 now"])
    values = dict(zip(ROW_FIELDS, row_data(row), strict=True))
    assert values["quotes"] == ["Mail me at [email] or see [link]", "call [phone] now"]
    page = render_page([row], context())
    assert "jo@example.com" not in page and "555 0100" not in page


# -- the charts ---------------------------------------------------------------------------


def test_charts_are_well_formed_svg_with_escaped_text() -> None:
    labels = [f"2026-{m:02d}-01" for m in range(1, 9)]
    svgs = [
        charts.csat_weeks("<checkout>", labels, [4, 0, 3, 5, 2, 6, 1, 8],
                          [2, 0, 1, 5, 2, 3, 0, 6], 0.5, ((17, 12), (12, 6))),
        charts.weekly_lines("top", labels, [("<a> & b", [1, 2, 3, 4, 5, 6, 7, 8]),
                                            ("c", [0.0] * 8)]),
        charts.segment_bars("seg", [("plan: <x>", 10, 4), ("platform: ios", 0, 0)]),
        charts.segment_bars("none", []),
    ]
    for svg in svgs:
        tree = ET.fromstring(svg)
        assert tree.tag == "svg"
    assert "&lt;checkout&gt;" in svgs[0] and "<checkout>" not in svgs[0]
    assert svgs[0].count("<circle") == 7, "no point for the week without answers"
    assert 'class="previous"' in svgs[0]


# -- the weekly series from the store ------------------------------------------------------


@pytest.fixture
def tables(store_url: str) -> Iterator[Engine]:
    """A store with the current tables (made from the models, not the migrations)."""
    engine = open_engine(store_url)
    SQLModel.metadata.create_all(engine)
    yield engine
    engine.dispose()


def _response(n: int, days_ago: float, key: str, satisfied: bool | None,
              customer: str = "a:1", status: str = "answered") -> dict[str, Any]:
    at = AS_OF - timedelta(days=days_ago)
    return {"source": "survey", "external_id": str(n), "submitted_at": at, "status": status,
            "satisfied": satisfied, "customer_key": customer, "link_key": key, "segments": "{}"}


def _ticket(n: int, days_ago: float, key: str, customer: str) -> dict[str, Any]:
    at = AS_OF - timedelta(days=days_ago)
    return {"source": "desk", "external_id": str(n), "created_at": at, "customer_key": customer,
            "link_key": key, "segments": "{}"}


def test_feature_weeks_count_both_windows_per_week(tables: Engine) -> None:
    rows = [
        _response(1, 1, "f:checkout", True), _response(2, 2, "f:checkout|r:acme/shop#1", True),
        _response(3, 3, "f:checkout", False), _response(4, 9, "f:checkout", True),
        _response(5, 30, "f:checkout", False), _response(6, 35, "f:checkout|f:search", False),
        _response(7, 2, "f:checkout", None, status="offered"),
        _response(8, 70, "f:checkout", True), _response(9, 2, "", True),
    ]
    with tables.begin() as conn:
        conn.execute(history.RESPONSES.insert(), rows)
    with tables.connect() as conn:
        found = {f.feature: f for f in history.feature_weeks(conn, AS_OF, 28, ["checkout",
                                                                              "search", "login"])}
    checkout = found["checkout"]
    assert len(checkout.responses) == 8
    assert checkout.responses == (0, 0, 1, 1, 0, 0, 1, 3)
    assert checkout.satisfied == (0, 0, 0, 0, 0, 0, 1, 2)
    assert checkout.current == (4, 3) and checkout.previous == (2, 0)
    assert found["search"].responses == (0, 0, 1, 0, 0, 0, 0, 0)
    assert found["login"].current == (0, 0)


def test_complaint_weeks_count_distinct_customers_linked_by_feature_or_reference(
        tables: Engine) -> None:
    with tables.begin() as conn:
        conn.execute(history.TICKETS.insert(), [
            _ticket(1, 1, "r:acme/shop#1", "a:1"), _ticket(2, 2, "r:acme/shop#1", "a:1"),
            _ticket(3, 3, "f:search", "a:2"), _ticket(4, 10, "f:checkout", "a:3"),
            _ticket(5, 40, "f:checkout", "a:4")])
        conn.execute(history.RESPONSES.insert(), [
            _response(1, 2, "f:checkout", False, "a:5"), _response(2, 2, "f:checkout", True, "a:6"),
            _response(3, 1, "r:ACME/shop#1", False, "a:1")])
    with tables.connect() as conn:
        found = history.complaint_weeks(conn, AS_OF, 28, {
            "acme/shop#1": (["checkout"], ["acme/shop#1"]), "acme/shop#9": ([], ["acme/shop#9"])})
    assert found["acme/shop#1"] == (0, 0, 1, 2)
    assert found["acme/shop#9"] == (0, 0, 0, 0)


def test_freshness_as_of_and_customers_come_from_the_store(tables: Engine) -> None:
    moved = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    with tables.begin() as conn:
        conn.execute(history.CURSORS.insert(), [{"source": "survey", "cursor": "x",
                                                 "updated_at": moved}])
        conn.execute(history.IMPACTS.insert(), [{"issue_key": "acme/shop#1",
                                                 "as_of": AS_OF,
                                                 "figures": "{}", "computed_at": moved}])
        conn.execute(history.RESPONSES.insert(), [_response(1, 1, "", True, "a:1"),
                                                  _response(2, 1, "", True, "a:2"),
                                                  _response(3, 99, "", True, "a:3")])
        conn.execute(history.TICKETS.insert(), [_ticket(1, 1, "", "a:2")])
    with tables.connect() as conn:
        assert history.freshness(conn, ["desk", "survey"]) == [
            ("desk", None), ("survey", moved)]
        assert history.stored_as_of(conn) == AS_OF
        assert history.customers_in_window(conn, AS_OF, 90) == 2


def test_an_empty_store_has_no_as_of_and_empty_series(tables: Engine) -> None:
    with tables.connect() as conn:
        assert history.stored_as_of(conn) is None
        assert history.feature_weeks(conn, AS_OF, 90, ["checkout"])[0].current == (0, 0)
        assert history.complaint_weeks(conn, AS_OF, 90, {"x#1": (["checkout"], [])}) == {
            "x#1": (0,) * 13}


# -- the command ----------------------------------------------------------------------------


def test_report_format_html_writes_one_page_from_the_example_store(tmp_path: Path) -> None:
    from test_cli import AS_OF as EXAMPLE_AS_OF
    from test_cli import example_config, invoke

    config = example_config(tmp_path)
    assert invoke("run", "-c", str(config), "--dry-run", "--as-of", EXAMPLE_AS_OF)[0] == 0
    out = tmp_path / "impact.html"
    code, text = invoke("report", "-c", str(config), "--format", "html", "-o", str(out))
    assert code == 0, text
    page = out.read_text(encoding="utf-8")
    assert "As of <time>2026-11-21 00:00 UTC</time>" in page
    assert len(island(page)["rows"]) >= 30
    assert page.count('<svg class="chart"') >= 3 and "survey-export</td>" in page


def test_report_format_html_on_an_empty_store(tmp_path: Path) -> None:
    from test_cli import example_config, invoke

    out = tmp_path / "empty.html"
    code, text = invoke("report", "-c", str(example_config(tmp_path)), "--format", "html",
                        "-o", str(out))
    assert code == 0, text
    assert "No data yet" in out.read_text(encoding="utf-8")


# -- in a real browser ------------------------------------------------------------------------


def chromium() -> str | None:
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium") or shutil.which("chromium-browser")


FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-default-apps", "--enable-logging=stderr", "--v=0"]


def browse(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile.mkdir(exist_ok=True)
    return subprocess.run([binary, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


def console_messages(stderr: str) -> list[str]:
    """Return what the page wrote to the console (it writes nothing when all is well).

    NOTE: with --enable-logging=stderr Chromium logs every console message as
    INFO:CONSOLE, whatever its level, so any such line counts.
    """
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def test_the_page_sorts_opens_and_shows_in_headless_chromium(tmp_path: Path) -> None:
    binary = chromium()
    if binary is None:
        pytest.skip("Chromium is not installed (/usr/bin/chromium or chromium on PATH; "
                    "Debian: apt-get install -y chromium)")
    rows = [synthetic_row(i, csat=None if i == 5 else (i * 37) % 100 + 0.5) for i in range(120)]
    rows[1]["title"] = HOSTILE
    page = tmp_path / "report.html"
    page.write_text(render_page(rows, context()), encoding="utf-8")
    url = page.as_uri()
    done = browse(binary, tmp_path / "profile-dom", "--virtual-time-budget=5000", "--dump-dom",
                  f"{url}#test-sort=csat&test-open=1")
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    tag = re.search(r"<html[^>]*>", dom)
    assert tag and 'data-ready="1"' in tag.group(0), "the table script did not finish"
    assert "data-js-errors" not in tag.group(0), tag.group(0)
    assert console_messages(done.stderr) == []
    table = re.search(r'<table id="backlog"[^>]*>', dom)
    assert table
    attrs = dict(re.findall(r'data-([\w-]+)="([^"]*)"', table.group(0)))
    assert (attrs["sort-key"], attrs["sort-dir"]) == ("csat", "asc")
    order = json.loads(html.unescape(attrs["order"]))
    expected = sorted((r for r in rows if r["csat"] is not None), key=lambda r: r["csat"])
    assert order == [r["issue"] for r in expected][:50]
    assert 'class="drill"' in dom, "the first drill-down opened"
    assert "<script>alert" not in dom.split('id="impact-data"')[0]
    shot = tmp_path / "report.png"
    done = browse(binary, tmp_path / "profile-shot", "--hide-scrollbars",
                  "--window-size=1400,1800", "--virtual-time-budget=5000",
                  f"--screenshot={shot}", url)
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert console_messages(done.stderr) == []

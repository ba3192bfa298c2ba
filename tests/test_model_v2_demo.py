"""Model v2 on the bundled example data: figures per bug, not per feature (IMPACT_MODEL.md)."""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from pathlib import Path
from typing import Any

from test_cli import AS_OF, example_config, invoke


def _stored(tmp_path: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(tmp_path / "s.db") as db:
        return [json.loads(f) for (f,) in db.execute("SELECT figures FROM impact")]


def test_demo_ranks_bugs_within_a_feature(tmp_path: Path) -> None:
    config = example_config(tmp_path)
    code, out = invoke("run", "-c", str(config), "--dry-run", "--as-of", AS_OF)
    assert code == 0, out
    figures = _stored(tmp_path)
    by_feature: dict[str, list[int]] = defaultdict(list)
    for f in figures:
        if len(f["explanation"]["issue_features"]) == 1:
            by_feature[f["explanation"]["issue_features"][0]].append(f["affected"])
    spread = {k: max(v) / max(min(v), 1) for k, v in by_feature.items() if len(v) > 1}
    assert max(spread.values()) >= 2, spread  # the top bug at least twice the last one
    assert len({f["level"] for f in figures}) >= 3  # a spread of levels, not all critical
    # v1 gave every bug of a feature the feature's total; v2 splits it.
    for feature, values in by_feature.items():
        linked = [f["linked_affected"] for f in figures
                  if f["explanation"]["issue_features"] == [feature]]
        assert sum(values) < sum(linked), feature
    assert any(f["named_customers"] for f in figures)
    assert any(f["suggested_links"] for f in figures)


def test_calibration_beats_the_even_split_in_every_format(tmp_path: Path) -> None:
    config = example_config(tmp_path)
    invoke("run", "-c", str(config), "--dry-run", "--as-of", AS_OF)
    code, out = invoke("report", "-c", str(config), "--calibration", "-f", "json")
    assert code == 0, out
    data = json.loads(out)
    assert data["as_of"].startswith("2026-11-21") and data["window_days"] == 90
    overall = data["calibration"][-1]
    assert overall["feature"] == "all" and overall["labelled"] >= 20
    assert overall["top1_accuracy"] > 2 * overall["even_split"]
    code, table = invoke("report", "-c", str(config), "--calibration")
    assert code == 0 and "top-1 accuracy" in table and "\nall " in table
    code, md = invoke("report", "-c", str(config), "--calibration", "-f", "markdown")
    assert code == 0 and "| feature | labelled |" in md


def test_explain_says_named_attributed_matches_and_context(tmp_path: Path) -> None:
    config = example_config(tmp_path)
    invoke("run", "-c", str(config), "--as-of", AS_OF)
    rows = json.loads(invoke("report", "-c", str(config), "-f", "json")[1])
    issue = next(r for r in rows if r["suggested_links"])
    code, out = invoke("report", "-c", str(config), "--explain", issue["issue"])
    assert code == 0, out
    assert f"{issue['named_customers']} named this issue" in out
    assert "attributed by text matches (BM25" in out
    assert " overall: " in out and "affected" in out
    assert "strongest text matches:" in out
    assert issue["suggested_links"][0]["record"] in out

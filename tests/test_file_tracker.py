"""The file tracker: issues and their text from a gh export or a Jira search export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from impactlink.config import FileTrackerConfig
from impactlink.trackers.files import FileTracker, parse_issues


def tracker_for(tmp_path: Path, data: Any) -> FileTracker:
    (tmp_path / "issues.json").write_text(json.dumps(data), encoding="utf-8")
    config = FileTrackerConfig.model_validate({"type": "file", "path": "issues.json"})
    return FileTracker(config, tmp_path)


def test_gh_export_body_reaches_the_issue(tmp_path: Path) -> None:
    export = [  # gh issue list --json number,title,state,labels,url,body
        {"number": 7, "title": "Apple Pay fails", "state": "OPEN",
         "labels": [{"id": "LA_1", "name": "area/checkout", "description": "", "color": "ededed"}],
         "url": "https://github.com/acme/shop/issues/7", "body": "On iOS 17, since 4.2."},
        {"number": 8, "title": "No body", "state": "OPEN", "labels": [],
         "url": "https://github.com/acme/shop/issues/8", "body": ""}]
    issues = tracker_for(tmp_path, export).fetch_issues(())
    assert [(i.key, i.body) for i in issues] == [
        ("acme/shop#7", "On iOS 17, since 4.2."), ("acme/shop#8", "")]
    assert parse_issues([{**export[0], "body": "Android too."}])[0] != issues[0]


def test_jira_export_description_in_adf_or_wiki_reaches_the_issue() -> None:
    adf = {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": "Apple Pay fails"},
                                          {"type": "hardBreak"},
                                          {"type": "text", "text": "on iOS"}]},
        {"type": "orderedList", "content": [{"type": "listItem", "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "open cart"}]}]}]}]}
    export = {"issues": [
        {"key": "SHOP-1", "fields": {"summary": "Cloud", "description": adf,
                                     "status": {"name": "To Do"}}},
        {"key": "SHOP-2", "fields": {"summary": "Data Center", "description": "*bold* wiki",
                                     "status": {"name": "Open"}}},
        {"key": "SHOP-3", "fields": {"summary": "Empty", "description": None,
                                     "status": {"name": "Open"}}}]}
    assert [(i.key, i.body) for i in parse_issues(export)] == [
        ("SHOP-1", "Apple Pay fails\non iOS\nopen cart"), ("SHOP-2", "*bold* wiki"),
        ("SHOP-3", "")]

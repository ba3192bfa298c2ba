"""A small full cycle for the crash and fault suites: file sources, a fake tracker, the store.

Three file sources (customers, tickets, CSAT) that name issues by feature tag and by
reference, a fake GitHub or Jira seeded to match, and the views of tracker and store
that two runs must agree on, leaving out what only says when (timestamps, run ids).
"""

from __future__ import annotations

import csv
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from fakes.github_server import FakeGithub
from fakes.jira_server import FakeJira

AS_OF = "2026-11-21T00:00:00Z"
GITHUB_TOKEN = "ghp_test"
FIELDS = ("Customer Impact", "CSAT", "Affected Customers")
_FEATURES = {"checkout": ("area/checkout", "Checkout"), "search": ("area/search", "Search")}
_SUBJECTS = {"checkout": ["Card declined at checkout", "Payment page hangs", "3DS popup closes"],
             "search": ["Search shows nothing", "Filters ignored in search", "Slow results"]}
_COMMENTS = ["Checkout keeps failing, call me at +1 415 555 0100", "Search is useless lately",
             "Payment broke twice this week", "Could not find the invoice by searching", ""]
# Named by records (GitHub #n and Jira SHOP-n): 7 is open but unlabelled, 8 closed, 99 missing.
_REFS = ["", "", "", "#2", "#7", "#7", "#8", "#99", "SHOP-2", "SHOP-7", "SHOP-8", "SHOP-99"]


def write_data(root: Path) -> None:
    """Write the three source files under root (the same bytes for the same root name)."""
    rng = random.Random(11)
    end = datetime(2026, 11, 20, tzinfo=UTC)
    with (root / "customers.csv").open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["id", "name", "plan", "arr"])
        for n in range(1, 13):
            out.writerow([f"acct-{n:02d}", f"Customer {n}", rng.choice(["pro", "enterprise"]),
                          rng.choice([1200, 5400, 24000])])
    with (root / "tickets.jsonl").open("w") as f:
        for n in range(1, 31):
            feature = rng.choice(list(_FEATURES))
            refs = rng.choice(_REFS)
            f.write(json.dumps({
                "id": f"T-{n:03d}", "customer_id": f"acct-{rng.randint(1, 12):02d}",
                "created_at": (end - timedelta(days=rng.randint(1, 80))).isoformat(),
                "status": rng.choice(["open", "solved"]),
                "subject": rng.choice(_SUBJECTS[feature]), "tags": [feature],
                "issue_refs": refs}) + "\n")
    with (root / "csat.csv").open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["id", "submitted_at", "score", "status", "customer_id", "comment", "tags",
                      "ticket_id", "issue_refs"])
        for n in range(1, 46):
            feature = rng.choice(list(_FEATURES))
            at = end - timedelta(days=rng.randint(1, 80), minutes=n)
            out.writerow([f"R-{n:03d}", at.strftime("%Y-%m-%d %H:%M:%S"), rng.randint(1, 5),
                          "answered", f"acct-{rng.randint(1, 12):02d}",
                          rng.choice(_COMMENTS), feature,
                          f"T-{rng.randint(1, 30):03d}" if n % 3 == 0 else "",
                          rng.choice(_REFS)])


def write_config(root: Path, tracker: str) -> Path:
    """Write the configuration: the three sources, two features, the given [tracker] table."""
    features = "\n".join(
        f'[features.{name}]\ntags = ["{name}"]\nlabels = ["{label}"]\ncomponents = ["{comp}"]\n'
        for name, (label, comp) in _FEATURES.items())
    path = root / "impactlink.toml"
    path.write_text(f'''[store]
url = "sqlite:///{root / "store.db"}"

[impact]
window_days = 90
quotes = 2

{features}
[[sources]]
name = "accounts"
type = "csv"
kind = "customers"
path = "{root / "customers.csv"}"

[[sources]]
name = "tickets"
type = "jsonl"
kind = "tickets"
path = "{root / "tickets.jsonl"}"

[[sources]]
name = "survey"
type = "csv"
kind = "csat"
path = "{root / "csat.csv"}"
ticket_source = "tickets"

{tracker}''', encoding="utf-8")
    return path


def github_table(fake: FakeGithub, root: Path, **extra: object) -> str:
    """Return the [tracker] table of the fake GitHub (the token in a file under root)."""
    (root / "github-token").write_text(GITHUB_TOKEN + "\n")
    options = {"seconds_between_writes": 0, "seconds_between_requests": 0, **extra}
    lines = "\n".join(f"{k} = {json.dumps(v)}" for k, v in options.items())
    return f'''[tracker]
type = "github"
repos = ["acme/shop"]
api_url = "{fake.base_url}"
token_file = "{root / "github-token"}"
quotes = true
allow_quotes_on_public_repos = true
{lines}
'''


def jira_table(fake: FakeJira, root: Path, **extra: object) -> str:
    """Return the [tracker] table of the fake Jira Cloud (secrets in files under root)."""
    (root / "jira-token").write_text(fake.token + "\n")
    (root / "jira-email").write_text(fake.email + "\n")
    options = {"seconds_between_writes": 0, **extra}
    lines = "\n".join(f"{k} = {json.dumps(v)}" for k, v in options.items())
    return f'''[tracker]
type = "jira"
url = "{fake.url}"
flavor = "cloud"
projects = ["SHOP"]
token_file = "{root / "jira-token"}"
email_file = "{root / "jira-email"}"
comment = true
quotes = true
{lines}
'''


def seed_github(fake: FakeGithub) -> None:
    """acme/shop: issues 1-6 by feature label, 7 unlabelled, 8 closed, 9 a pull request."""
    fake.add_repo("acme/shop")
    for n in range(1, 7):
        label = _FEATURES["checkout" if n % 2 else "search"][0]
        fake.add_issue("acme/shop", n, labels=(label, "bug"), title=f"Bug {n}")
    fake.add_issue("acme/shop", 7, labels=("docs",), title="Referenced only")
    fake.add_issue("acme/shop", 8, labels=("area/checkout",), state="closed")
    fake.add_issue("acme/shop", 9, labels=("area/checkout",), pull=True)


def seed_jira(fake: FakeJira) -> None:
    """SHOP: issues 1-6 by feature component, 7 without one, 8 done; OPS-1 elsewhere."""
    for name in FIELDS:
        fake.add_field(name)
    fake.add_project("SHOP", ("Checkout", "Search"))
    for n in range(1, 7):
        fake.add_issue(f"SHOP-{n}", components=("Checkout" if n % 2 else "Search",),
                       summary=f"Bug {n}")
    fake.add_issue("SHOP-7", summary="Referenced only")
    fake.add_issue("SHOP-8", components=("Checkout",), category="done")
    fake.add_issue("OPS-1", components=("Checkout",))


def github_state(fake: FakeGithub) -> dict[str, Any]:
    """Return what GitHub shows: each issue's labels and comments, the repo's labels."""
    repo = fake.repos["acme/shop"]
    return {"labels": sorted(repo.labels),
            "issues": {n: {"labels": fake.labels_of("acme/shop", n),
                           "comments": [(c["user"]["login"], c["body"])
                                        for c in fake.comments_of("acme/shop", n)]}
                       for n in sorted(repo.issues)}}


def jira_state(fake: FakeJira) -> dict[str, Any]:
    """Return what Jira shows: each issue's field values, labels and comments."""
    return {key: {"values": dict(sorted(i.values.items())), "labels": sorted(i.labels),
                  "comments": [(json.dumps(c["author"], sort_keys=True),
                                json.dumps(c["body"], sort_keys=True)) for c in i.comments]}
            for key, i in sorted(fake.issues.items())}


_LEFT_OUT = {"synced_at", "computed_at", "written_at", "updated_at", "created_at",
             "checked_at", "run_id"}
"""Columns that say when, not what (ticket created_at is kept: it is the record's own)."""
_TABLES = {"ticket": "source, external_id", "csat_response": "source, external_id",
           "customer": "source, external_id", "issue": "key", "impact": "issue_key",
           "written": "issue_key, target", "source_cursor": "source",
           "quarantine": "source, location, reason", "record_match": "kind, record_id",
           "referenced_issue": "tracker, key"}


def store_state(db: Path, scrub: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Return every table that holds data (not runs or leases), without its timestamps.

    An issue's labels are left out too: they are the tracker's, as last read, and a run
    that wrote some of them before a crash reads them back (the tracker is compared itself).

    ``scrub`` replaces text that differs between two runs' places (their directory, the
    fake's address) with a name.
    """
    engine = create_engine(f"sqlite:///{db}")
    out: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        for table, order in _TABLES.items():
            rows = conn.execute(text(f"SELECT * FROM {table} ORDER BY {order}")).mappings()
            keep = [{k: v for k, v in r.items()
                     if k not in _LEFT_OUT or (table == "ticket" and k == "created_at")}
                    for r in rows]
            for row in keep:
                if table == "issue":
                    row.pop("labels")
                if table == "impact":
                    row["figures"] = json.loads(row["figures"])
                if table == "source_cursor":  # its "reading" fingerprint hashes the path
                    row["cursor"] = {k: v for k, v in json.loads(row["cursor"]).items()
                                     if k != "reading"}
            out[table] = keep
    engine.dispose()
    dumped = json.dumps(out, sort_keys=True, default=str)
    for place, name in scrub.items():
        dumped = dumped.replace(place, name)
    result: dict[str, list[dict[str, Any]]] = json.loads(dumped)
    return result

"""A DuckDB reference: the per-issue aggregation straight over the source files.

    python benchmarks/duckref.py --config DIR/bench.toml --as-of 2026-11-21T00:00:00Z
                                 [--output figures.json]

For each open issue, over the window (as_of − window_days, as_of]: the linked responses n,
the satisfied s, offered surveys, tickets, and the distinct customers with evidence (a
ticket or a dissatisfied answer) — linked as the impact model links them: a record that
names open issues (an explicit reference in its reference field, or `owner/repo#N` or an
issue URL in its text) belongs to those alone; any other record to every open issue that
shares a feature with it (tags → features → labels); a response that rates a ticket
inherits the ticket's tags and references (and its account when it has none). No text
attribution: this is the bar for the counting part of a cycle, the part any engine must do.

It reads the file sources with their default column names (csat CSV, tickets JSONL) and a
`gh issue list` JSON export, as benchmarks/orgdata.py and examples/ write them. Records
are grouped by link key (their feature set, or the issues they name) before they meet
issues, so the work grows with records plus keys × issues, not records × issues.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

SCALES = {"1-5": (1, 5, 4), "1-7": (1, 7, 6), "1-10": (1, 10, 8), "0-10": (0, 10, 9)}
"""Numeric scales: lowest, highest, satisfied_min (a score outside is quarantined)."""


def normalize_tag(tag: str) -> str:
    """The product's tag folding (core/tags.py): case, surrounding space, - _ and space."""
    return re.sub(r"[\s_\-]+", "-", tag.strip().casefold()).strip("-")


def sources(config: dict[str, Any], base: Path) -> tuple[Path, Path, tuple[int, int, int]]:
    """Return the csat and tickets files and the csat source's scale."""
    csat = tickets = None
    scale = SCALES["1-5"]
    for source in config.get("sources", []):
        if source.get("kind") == "csat" and source.get("type") == "csv":
            csat = base / source["path"]
            scale = SCALES[source.get("scale", "1-5")]
        elif source.get("kind") == "tickets" and source.get("type") == "jsonl":
            tickets = base / source["path"]
    if csat is None or tickets is None:
        raise SystemExit("duckref needs a csv csat source and a jsonl tickets source")
    return csat, tickets, scale


def aggregate(config_path: Path, as_of: datetime) -> dict[str, dict[str, int]]:
    """Return the per-issue counts, keyed as the product keys issues (owner/repo#N)."""
    import duckdb

    config = tomllib.loads(config_path.read_text(encoding="utf-8"))
    base = config_path.parent
    csat, tickets, (lowest, highest, satisfied) = sources(config, base)
    issues = base / config["tracker"]["path"]
    repo = config["tracker"].get("default_repo", "acme/shop").lower()
    window = int(config.get("impact", {}).get("window_days", 90))
    tags = [(normalize_tag(t), name) for name, f in config.get("features", {}).items()
            for t in f.get("tags", [])]
    labels = [(label, name) for name, f in config.get("features", {}).items()
              for label in [*f.get("labels", []), *f.get("components", [])]]
    db = duckdb.connect()
    db.execute("SET TimeZone = 'UTC'")
    db.execute("CREATE TEMP TABLE tagmap (tag VARCHAR, feature VARCHAR)")
    db.executemany("INSERT INTO tagmap VALUES (?, ?)", tags)
    db.execute("CREATE TEMP TABLE labelmap (label VARCHAR, feature VARCHAR)")
    db.executemany("INSERT INTO labelmap VALUES (?, ?)", labels)
    start, end = as_of - timedelta(days=window), as_of
    owner_repo = re.escape(repo)
    params = {"start": start, "end": end}
    for statement in SQL.format(
            issues=sql_string(issues), tickets=sql_string(tickets), csat=sql_string(csat),
            satisfied=satisfied, lowest=lowest, highest=highest,
            text_ref=sql_string(rf"(?i){owner_repo}#(\d+)"),
            url_ref=sql_string(rf"(?i)/{owner_repo}/issues/(\d+)")).split(";\n"):
        if statement.strip():
            db.execute(statement, {k: v for k, v in params.items() if f"${k}" in statement})
    rows = db.execute("SELECT * FROM per_issue ORDER BY number").fetchall()
    names = [d[0] for d in db.description]
    return {f"{repo}#{r[0]}": dict(zip(names[1:], (int(v) for v in r[1:]), strict=True))
            for r in rows}


def sql_string(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


# Tag folding in SQL mirrors normalize_tag (lower() for casefold: the same on these data).
SQL = r"""
CREATE TEMP TABLE issue AS
SELECT number, upper(state) = 'OPEN' AS open, labels
FROM read_json({issues}, format = 'array',
               columns = {{number: 'BIGINT', state: 'VARCHAR', labels: 'STRUCT(name VARCHAR)[]'}});
CREATE TEMP TABLE open_issue AS SELECT number FROM issue WHERE open;
CREATE TEMP TABLE issue_feature AS
SELECT DISTINCT i.number, m.feature
FROM (SELECT number, unnest(labels).name AS label FROM issue WHERE open) i
JOIN labelmap m USING (label);
CREATE TEMP TABLE ticket AS
SELECT id, TRY_CAST(created_at AS TIMESTAMPTZ) AS ts, nullif(customer_id, '') AS account,
       coalesce(nullif(customer_id, ''), nullif(requester_id, ''), 'ticket:' || id) AS customer,
       list_distinct(list_filter(list_transform(coalesce(tags, []), lambda t: trim(regexp_replace(
           lower(trim(t)), '[\s_\-]+', '-', 'g'), '-')), lambda t: t <> '')) AS tags,
       list_distinct(list_concat(
           regexp_extract_all(coalesce(issue_refs, ''), '#(\d+)', 1),
           regexp_extract_all(coalesce(issue_refs, ''), '/issues/(\d+)', 1),
           regexp_extract_all(coalesce(subject, '') || ' ' || coalesce(description, ''),
                              {text_ref}, 1),
           regexp_extract_all(coalesce(subject, '') || ' ' || coalesce(description, ''),
                              {url_ref}, 1))) AS refs
FROM read_json({tickets}, format = 'newline_delimited',
               columns = {{id: 'VARCHAR', created_at: 'VARCHAR', customer_id: 'VARCHAR',
                          requester_id: 'VARCHAR', subject: 'VARCHAR', description: 'VARCHAR',
                          tags: 'VARCHAR[]', issue_refs: 'VARCHAR'}})
WHERE coalesce(id, '') <> '';
CREATE TEMP TABLE response AS
SELECT r.id, TRY_CAST(r.submitted_at AS TIMESTAMPTZ) AS ts,
       coalesce(nullif(r.customer_id, ''), t.account, nullif(r.respondent_id, ''),
                'csat:' || r.id) AS customer,
       lower(coalesce(r.status, 'answered')) = 'offered' AS offered,
       TRY_CAST(nullif(r.score, '') AS INTEGER) AS score,
       list_distinct(list_concat(list_filter(list_transform(
           string_split_regex(coalesce(r.tags, ''), '[;,]'), lambda t: trim(regexp_replace(
               lower(trim(t)), '[\s_\-]+', '-', 'g'), '-')), lambda t: t <> ''),
           coalesce(t.tags, []))) AS tags,
       list_distinct(list_concat(
           regexp_extract_all(coalesce(r.issue_refs, ''), '#(\d+)', 1),
           regexp_extract_all(coalesce(r.issue_refs, ''), '/issues/(\d+)', 1),
           regexp_extract_all(coalesce(r.comment, ''), {text_ref}, 1),
           regexp_extract_all(coalesce(r.comment, ''), {url_ref}, 1),
           coalesce(t.refs, []))) AS refs
FROM read_csv({csat}, header = true, all_varchar = true) r
LEFT JOIN ticket t ON t.id = r.ticket_id AND coalesce(r.ticket_id, '') <> ''
WHERE coalesce(r.id, '') <> '';
CREATE TEMP TABLE rec AS
SELECT row_number() OVER () AS rid, * FROM (
    SELECT 'ticket' AS kind, customer, false AS answered, false AS satisfied,
           false AS offered, tags, refs
    FROM ticket WHERE ts > $start AND ts <= $end
    UNION ALL
    SELECT 'csat', customer, NOT offered, NOT offered AND score >= {satisfied}, offered,
           tags, refs
    FROM response
    WHERE ts > $start AND ts <= $end AND (offered OR score BETWEEN {lowest} AND {highest}));
CREATE TEMP TABLE named AS
SELECT DISTINCT r.rid, CAST(u.ref AS BIGINT) AS number
FROM (SELECT rid, unnest(refs) AS ref FROM rec) u
JOIN rec r USING (rid)
JOIN open_issue o ON o.number = CAST(u.ref AS BIGINT);
CREATE TEMP TABLE rec_feature AS
SELECT DISTINCT u.rid, m.feature
FROM (SELECT rid, unnest(tags) AS tag FROM rec) u JOIN tagmap m USING (tag);
CREATE TEMP TABLE keyed AS
SELECT r.rid, r.kind, r.customer, r.answered, r.satisfied, r.offered,
       coalesce(n.key, f.key) AS key
FROM rec r
LEFT JOIN (SELECT rid, 'n:' || string_agg(CAST(number AS VARCHAR), ',' ORDER BY number) AS key
           FROM named GROUP BY rid) n USING (rid)
LEFT JOIN (SELECT rid, 'f:' || string_agg(feature, ',' ORDER BY feature) AS key
           FROM rec_feature GROUP BY rid) f USING (rid)
WHERE coalesce(n.key, f.key) IS NOT NULL;
CREATE TEMP TABLE key_feature AS
SELECT DISTINCT k.key, f.feature
FROM (SELECT DISTINCT rid, key FROM keyed WHERE key LIKE 'f:%') k
JOIN rec_feature f USING (rid);
CREATE TEMP TABLE key_issue AS
SELECT DISTINCT k.key, n.number
FROM (SELECT rid, key FROM keyed WHERE key LIKE 'n:%') k JOIN named n USING (rid)
UNION
SELECT DISTINCT kf.key, i.number FROM key_feature kf JOIN issue_feature i USING (feature);
CREATE TEMP TABLE key_count AS
SELECT key, count(*) FILTER (WHERE answered) AS responses,
       count(*) FILTER (WHERE satisfied) AS satisfied,
       count(*) FILTER (WHERE offered) AS offered,
       count(*) FILTER (WHERE kind = 'ticket') AS tickets
FROM keyed GROUP BY key;
CREATE TEMP TABLE evidence AS
SELECT DISTINCT key, customer FROM keyed
WHERE kind = 'ticket' OR (answered AND NOT satisfied);
CREATE TEMP TABLE issue_set AS
SELECT o.number, coalesce(string_agg(f.feature, ',' ORDER BY f.feature), '') AS features
FROM open_issue o LEFT JOIN issue_feature f USING (number) GROUP BY o.number;
CREATE TEMP TABLE set_customer AS
SELECT DISTINCT s.features, e.customer
FROM (SELECT DISTINCT features FROM issue_set WHERE features <> '') s
JOIN key_feature kf ON list_contains(string_split(s.features, ','), kf.feature)
JOIN evidence e ON e.key = kf.key;
CREATE TEMP TABLE named_customer AS
SELECT DISTINCT ki.number, e.customer
FROM key_issue ki JOIN evidence e USING (key) WHERE ki.key LIKE 'n:%';
CREATE TEMP TABLE per_issue AS
SELECT s.number,
       coalesce(c.responses, 0) AS responses, coalesce(c.satisfied, 0) AS satisfied,
       coalesce(c.offered, 0) AS offered, coalesce(c.tickets, 0) AS tickets,
       coalesce(sc.customers, 0) + coalesce(nc.customers, 0) AS customers_observed
FROM issue_set s
LEFT JOIN (SELECT number, sum(responses) AS responses, sum(satisfied) AS satisfied,
                  sum(offered) AS offered, sum(tickets) AS tickets
           FROM key_issue JOIN key_count USING (key) GROUP BY number) c USING (number)
LEFT JOIN (SELECT features, count(*) AS customers FROM set_customer GROUP BY features) sc
       USING (features)
LEFT JOIN (SELECT n.number, count(*) AS customers
           FROM named_customer n JOIN issue_set s USING (number)
           WHERE NOT EXISTS (SELECT 1 FROM set_customer x
                             WHERE x.features = s.features AND x.customer = n.customer)
           GROUP BY n.number) nc USING (number)
WHERE coalesce(c.responses, 0) + coalesce(c.tickets, 0) + coalesce(c.offered, 0) > 0;
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--as-of", required=True, help="ISO 8601; no zone means UTC")
    parser.add_argument("--output", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    as_of = datetime.fromisoformat(args.as_of.replace("Z", "+00:00"))
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)
    try:
        import duckdb  # noqa: F401
    except ImportError:
        sys.exit("duckref needs the duckdb package: pip install -e '.[bench]'")
    started = time.perf_counter()
    figures = aggregate(args.config, as_of)
    seconds = time.perf_counter() - started
    if args.output:
        args.output.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({"seconds": round(seconds, 3), "issues": len(figures)}))


if __name__ == "__main__":
    main()

"""``impactlink check`` for Jira: credentials, flavor, projects, fields, screens, the JQL."""

from __future__ import annotations

from impactlink.config import JiraTrackerConfig
from impactlink.errors import TrackerError
from impactlink.trackers.jira_client import JiraClient, JiraHTTPError
from impactlink.trackers.jira_fields import number_fields, screen_fields, screen_problems
from impactlink.trackers.jira_jql import quote

_FIX_JQL = ("fix tracker.jql, or the components and labels in [features] (a component must "
            "exist in one of the projects)")


def problems(client: JiraClient, config: JiraTrackerConfig, jql: str | None) -> list[str]:
    """Return each problem with its fix; empty when impactlink can read and write."""
    try:
        info = client.get("read serverInfo", "serverInfo")
        client.get("check the credentials", "myself")
    except JiraHTTPError as exc:
        return [str(exc)]
    except TrackerError as exc:
        return [f"Jira at {config.url} unreachable ({exc}): check tracker.url"]
    found: list[str] = []
    kind = str(info.get("deploymentType") or "") if isinstance(info, dict) else ""
    if config.flavor != "auto" and (kind == "Cloud") != (config.flavor == "cloud"):
        found.append(f"tracker.flavor = {config.flavor!r} but {config.url} reports deployment "
                     f"type {kind or 'unknown'!r}: set flavor = \"auto\"")
    names = (config.fields.score, config.fields.csat, config.fields.affected)
    catalog = client.call("list fields", lambda: client.jira().fields())
    ids, field_problems = number_fields(catalog, names)
    found += field_problems
    queries = {f"project {p}": f"project = {quote(p)}" for p in config.projects}
    if jql is None:
        found.append("no feature has components or labels: add them under [features] so "
                     "impactlink can find issues")
    else:
        queries["the feature search"] = jql
    found += _query_problems(client, queries)
    wanted = {n: ids[n] for n in names if n in ids}
    if config.level_label:
        wanted["Labels"] = "labels"
    for project in config.projects:
        found += _screen_problems(client, project, wanted)
    return found


def _query_problems(client: JiraClient, queries: dict[str, str]) -> list[str]:
    """Return a problem per query Jira would refuse (jql/parse on Cloud, a search elsewhere)."""
    found = []
    if client.cloud:
        answer = client.send("parse JQL", "POST", "jql/parse",
                             {"queries": list(queries.values())})
        parsed = answer.get("queries") if isinstance(answer, dict) else None
        for what, result in zip(queries, parsed or [], strict=False):
            errors = result.get("errors") if isinstance(result, dict) else None
            if errors:
                found.append(_jql_problem(what, "; ".join(map(str, errors))))
        return found
    for what, jql in queries.items():
        try:
            client.search_page(jql, ["key"], limit=0)
        except JiraHTTPError as exc:
            found.append(_jql_problem(what, str(exc)))
    return found


def _jql_problem(what: str, error: str) -> str:
    if what.startswith("project "):
        return (f"{what}: not found or not visible to these credentials ({error}): check "
                f"tracker.projects and grant Browse projects")
    return f"{what} is not valid JQL ({error}): {_FIX_JQL}"


def _screen_problems(client: JiraClient, project: str, wanted: dict[str, str]) -> list[str]:
    """Check the edit screen of one open issue per issue type of the project."""
    jql = f"project = {quote(project)} AND statusCategory != Done ORDER BY key ASC"
    try:
        page = client.search_page(jql, ["issuetype"], limit=50)
    except JiraHTTPError:
        return []  # the project's own problem is already reported
    by_type: dict[str, str] = {}
    for item in page.get("issues") or []:
        name = str(((item.get("fields") or {}).get("issuetype") or {}).get("name") or "")
        by_type.setdefault(name, str(item["key"]))
    found = []
    for issue_type, key in sorted(by_type.items()):
        meta = client.get(f"read the edit screen of {key}", f"issue/{key}/editmeta")
        found += screen_problems(screen_fields(meta), wanted, project, issue_type)
    return found

"""The ``[tracker]`` table: a file export, GitHub or Jira, one model per type."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator

from impactlink.config_section import Section, refuse_credentials
from impactlink.trackers.jira_jql import check_narrowing


class FieldNames(Section):
    score: str = "Customer Impact"
    csat: str = "CSAT"
    affected: str = "Affected Customers"


class LevelLabels(Section):
    critical: str = "impact: critical"
    high: str = "impact: high"
    medium: str = "impact: medium"
    low: str = "impact: low"


class LevelColors(Section):
    critical: str = "b60205"
    high: str = "d93f0b"
    medium: str = "fbca04"
    low: str = "c5def5"


class FileTrackerConfig(Section):
    type: Literal["file"]
    path: Path
    default_repo: str | None = None


class ProjectTarget(Section):
    owner: str
    owner_type: Literal["org", "user"] = "org"
    number: int = Field(ge=1)


class GithubTrackerConfig(Section):
    type: Literal["github"]
    repos: list[str] = Field(min_length=1)
    api_url: str = "https://api.github.com"
    token_env: str | None = None
    token_file: Path | None = None
    app_id: int | None = None
    private_key_env: str | None = None
    private_key_file: Path | None = None
    installation_id: int | None = None
    project: ProjectTarget | None = None
    fields: FieldNames = Field(default_factory=FieldNames)
    labels: LevelLabels = Field(default_factory=LevelLabels)
    label_colors: LevelColors = Field(default_factory=LevelColors)
    comment: bool = True
    create_fields: bool = False
    quotes: bool = False
    allow_quotes_on_public_repos: bool = False
    max_writes_per_run: int = Field(500, ge=0)
    seconds_between_writes: float = Field(1.0, ge=0)
    seconds_between_requests: float = Field(
        0.25, ge=0, description="pause between any two requests (PyGithub's default pacing)")
    max_rate_limit_wait_seconds: float = Field(
        60.0, ge=0, description="wait out a rate limit up to this long; past it, stop the cycle "
                                "and resume at the next one")
    max_referenced_issues: int = Field(
        200, ge=0, description="issues named in customer text read per cycle, the most "
                               "referenced first (the listing by feature label is not capped)")
    referenced_revalidate_hours: float = Field(
        24.0, ge=0, description="a referenced issue found closed or missing is read again "
                                "after this long")

    @field_validator("api_url")
    @classmethod
    def _no_credentials(cls, url: str) -> str:
        return refuse_credentials(url, fix="set token_env or token_file (or the GitHub App keys)")

    @field_validator("repos")
    @classmethod
    def _owner_repo(cls, repos: list[str]) -> list[str]:
        for repo in repos:
            if repo.count("/") != 1 or not all(repo.split("/")):
                raise ValueError(f"'{repo}' is not OWNER/REPO")
        return repos


class JiraTrackerConfig(Section):
    """Jira Cloud or Data Center: issues by feature component/label, impact in number fields.

    Cloud signs in with an account's email and API token (basic auth); Data Center with a
    Personal Access Token (Bearer). ``flavor = "auto"`` asks /rest/api/2/serverInfo.
    """

    type: Literal["jira"]
    url: str = Field(description="site URL, e.g. https://acme.atlassian.net or "
                     "https://jira.acme.com (with its context path, if any)")
    flavor: Literal["auto", "cloud", "datacenter"] = Field(
        "auto", description="cloud (REST v3) or datacenter (REST v2); auto reads serverInfo")
    email_env: str | None = Field(None, description="Cloud: variable holding the account's "
                                  "email (with token_env: API-token basic auth)")
    email_file: Path | None = Field(None, description="Cloud: file holding the account's email")
    token_env: str | None = Field(None, description="variable holding the Cloud API token, or "
                                  "the Data Center personal access token (secret)")
    token_file: Path | None = Field(None, description="file holding the token (secret)")
    projects: list[Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]+$")]] = Field(
        min_length=1, description="project keys whose issues to read, e.g. [\"SHOP\"]")
    jql: str | None = Field(None, description="extra JQL that narrows the feature search, "
                            "e.g. 'issuetype = Bug' (not applied to explicitly referenced keys); "
                            "it is sent as `project in (projects) AND (jql)`")
    fields: FieldNames = Field(default_factory=FieldNames,
                               description="names of the three custom number fields")
    level_label: bool = Field(False, description="also keep one level label on each issue")
    level_labels: dict[str, str] = Field(
        default_factory=lambda: {"critical": "impact-critical", "high": "impact-high",
                                 "medium": "impact-medium", "low": "impact-low"},
        description="the label per level (Jira labels cannot contain spaces)")
    comment: bool = Field(False, description="also keep one managed comment with the figures")
    quotes: bool = Field(False, description="include redacted customer comments in it")
    max_writes_per_run: int = Field(500, ge=0, description="write requests per cycle; past "
                                    "it, stop and resume at the next cycle")
    max_retry_wait_seconds: float = Field(600.0, ge=0, description="wait out a 429/503 "
                                          "Retry-After up to this long; past it, stop the cycle")
    max_retries: int = Field(4, ge=0, le=20, description="retries of one request after a "
                             "429/502/503/504 (a 500 too, on a read) or a dropped connection")
    timeout_seconds: float = Field(30.0, gt=0, description="connect/read timeout per request")
    seconds_between_writes: float = Field(1.0, ge=0, description="pause between two write "
                                          "requests, as for GitHub")
    max_referenced_issues: int = Field(
        200, ge=0, description="issues named in customer text read per cycle, the most "
                               "referenced first (the feature search is not capped)")
    referenced_revalidate_hours: float = Field(
        24.0, ge=0, description="a referenced issue found resolved or missing is read again "
                                "after this long")

    @field_validator("url")
    @classmethod
    def _no_credentials(cls, url: str) -> str:
        return refuse_credentials(url, fix="set email_env/token_env (or their _file forms)")

    @field_validator("jql")
    @classmethod
    def _narrowing(cls, jql: str | None) -> str | None:
        if jql is not None and jql.strip():
            check_narrowing(jql)
        return jql

    @field_validator("level_labels")
    @classmethod
    def _labels(cls, labels: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(labels) - {"critical", "high", "medium", "low"})
        if unknown:
            raise ValueError(f"unknown level(s) {', '.join(unknown)}: use critical, high, "
                             f"medium, low")
        for name in labels.values():
            if not name or any(c.isspace() for c in name):
                raise ValueError(f"label {name!r}: Jira labels cannot be empty or contain "
                                 f"spaces")
        return labels


TrackerConfig = Annotated[FileTrackerConfig | GithubTrackerConfig | JiraTrackerConfig,
                          Field(discriminator="type")]

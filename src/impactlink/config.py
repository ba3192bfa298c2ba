"""One Settings object, from one TOML file, validated at the edge and passed down.

Secrets are never literal: a key ending in ``_env`` names an environment variable and
one ending in ``_file`` names a file that holds the secret.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from impactlink.errors import ConfigError
from impactlink.logs import register_secret

Scale = Literal["1-5", "1-7", "1-10", "0-10", "good/bad", "thumbs"]

# Keys that would hold a secret literally; each has an _env / _file form instead.
_LITERAL_SECRETS = {"token", "password", "api_key", "api_token", "private_key", "secret",
                    "client_secret", "access_token", "key"}


class _Section(BaseModel):
    """A config table: unknown keys are errors, literal secrets are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _refuse_literal_secrets(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in data:
                if key in _LITERAL_SECRETS:
                    raise ValueError(
                        f"'{key}' would put a secret in the file: remove it and set "
                        f"'{key}_env = \"VARIABLE\"' (an environment variable) or "
                        f"'{key}_file = \"/run/secrets/...\"' instead"
                    )
        return data


class StoreSettings(_Section):
    url: str = "sqlite:///impactlink.db"

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        if not url.startswith(("sqlite://", "postgresql")):
            raise ValueError("use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB")
        return url


class LevelShares(_Section):
    critical: float = Field(0.02, gt=0, le=1)
    high: float = Field(0.005, gt=0, le=1)
    medium: float = Field(0.001, gt=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> LevelShares:
        if not self.critical >= self.high >= self.medium:
            raise ValueError("level_shares must satisfy critical >= high >= medium")
        return self


class ImpactConfig(_Section):
    window_days: int = Field(90, ge=1, le=3650)
    prior_strength: float = Field(10.0, ge=0)
    min_responses: int = Field(5, ge=1)
    feature_attribution: Literal["shared", "full"] = "shared"
    weight_by: Literal["none", "arr"] = "none"
    segment_weights: dict[str, float] = Field(default_factory=dict)
    level_shares: LevelShares = Field(default_factory=LevelShares)
    customer_base: int | None = Field(None, ge=1)
    quotes: int = Field(3, ge=0, le=10, description="representative comments in explanations")


class FeatureConfig(_Section):
    tags: list[str] = Field(default_factory=list)
    labels: list[str] = Field(default_factory=list)
    components: list[str] = Field(default_factory=list)
    active_customers: int | None = Field(None, ge=1)


class _SourceBase(_Section):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    enabled: bool = True
    complaint_multiplier: float = Field(1.0, ge=1.0)
    segments: list[str] = Field(default_factory=list)
    ticket_source: str | None = None


class FileSourceConfig(_SourceBase):
    type: Literal["csv", "jsonl"]
    kind: Literal["csat", "tickets", "customers"]
    path: Path
    scale: Scale = "1-5"
    columns: dict[str, str] = Field(default_factory=dict)
    delimiter: str = Field(",", min_length=1, max_length=1)


class HttpSourceSettings(_SourceBase):
    """What every HTTP source's table takes (its own keys come on top)."""

    base_url: str | None = None
    scale: Scale = "1-5"
    timeout_seconds: float = Field(30.0, gt=0)
    max_retries: int = Field(5, ge=0, le=20)
    max_retry_wait_seconds: float = Field(120.0, ge=0)
    start_date: str | None = None
    tag_fields: dict[str, str] = Field(default_factory=dict)
    segment_fields: dict[str, str] = Field(default_factory=dict)
    plan_field: str | None = None
    arr_field: str | None = None
    arr_multiplier: float = 1.0


class ZendeskSourceConfig(HttpSourceSettings):
    """Zendesk Support: tickets, organizations, CSAT and Jira links over the REST API.

    ``tag_fields`` / ``segment_fields`` / ``reference_fields`` name ticket custom fields by
    their numeric id; ``plan_field`` / ``arr_field`` name organization_fields keys.
    Legacy ratings are always on the good/bad scale; ``scale`` applies to the newer CSAT.
    """

    type: Literal["zendesk"]
    subdomain: str | None = Field(None, description="acme for https://acme.zendesk.com")
    email_env: str | None = Field(None, description="variable holding the agent's email "
                                  "(with token_env: API-token auth)")
    token_env: str | None = Field(None, description="variable holding the API token (secret)")
    token_file: Path | None = Field(None, description="file holding the API token (secret)")
    oauth_token_env: str | None = Field(None, description="variable holding an OAuth access "
                                        "token (secret); used instead of email + token")
    csat_surveys: bool = Field(False, description="also read the newer 1-5 CSAT survey "
                               "responses of csat_survey_id")
    csat_survey_id: str | None = Field(None, description="id of the CSAT survey whose "
                                       "responses to read when csat_surveys = true")
    jira_links: bool = Field(True, description="read the Zendesk-Jira integration's links "
                             "(/api/v2/jira/links) as explicit issue references")
    reference_fields: list[str] = Field(default_factory=list, description="ticket custom "
                                        "field ids whose values hold issue references")
    ratings_lookback_hours: float = Field(72.0, ge=0, description="each run re-reads legacy "
                                          "satisfaction ratings this far back, so an offered "
                                          "survey answered later is picked up")

    @model_validator(mode="after")
    def _located(self) -> ZendeskSourceConfig:
        if not (self.subdomain or self.base_url):
            raise ValueError("set subdomain (acme for acme.zendesk.com) or base_url")
        if self.csat_surveys and not self.csat_survey_id:
            raise ValueError("csat_surveys = true needs csat_survey_id (the survey's id)")
        return self


class IntercomSourceConfig(HttpSourceSettings):
    """Intercom: conversations (with conversation_rating as CSAT) and their companies.

    ``tag_fields`` / ``segment_fields`` name conversation custom attributes; ``plan_field`` /
    ``arr_field`` name company custom attributes (default: the company's plan name and
    monthly_spend × 12). EU/AU workspaces: base_url = "https://api.eu.intercom.io" (or .au).
    """

    type: Literal["intercom"]
    token_env: str | None = Field(None, description="variable holding the access token (secret)")
    token_file: Path | None = Field(None, description="file holding the access token (secret)")
    api_version: str = Field("2.14", description="sent as the Intercom-Version header")
    reference_attributes: list[str] = Field(
        default_factory=lambda: ["jira_issue_key", "github_issue"],
        description="conversation custom attributes whose values hold issue references")
    per_page: int = Field(150, ge=1, le=150, description="conversations per search page")


class FreshdeskSourceConfig(HttpSourceSettings):
    """Freshdesk: tickets, companies and satisfaction ratings.

    ``tag_fields`` / ``segment_fields`` / ``reference_fields`` name ticket custom fields
    (``cf_...``); ``plan_field`` / ``arr_field`` name company custom fields. Ratings take the
    survey's own scale (see impactlink.sources.freshdesk), not ``scale``.
    """

    type: Literal["freshdesk"]
    domain: str | None = Field(None, description="acme for https://acme.freshdesk.com")
    api_key_env: str | None = Field(None, description="variable holding the API key (secret)")
    api_key_file: Path | None = Field(None, description="file holding the API key (secret)")
    reference_fields: list[str] = Field(default_factory=list, description="ticket custom "
                                        "fields whose values hold issue references")
    deleted_tickets: bool = Field(True, description="also list deleted tickets "
                                  "(filter=deleted) so the store drops them")

    @model_validator(mode="after")
    def _located(self) -> FreshdeskSourceConfig:
        if not (self.domain or self.base_url):
            raise ValueError("set domain (acme for acme.freshdesk.com) or base_url")
        return self


class DelightedSourceConfig(HttpSourceSettings):
    """Delighted: survey responses, with person properties naming customer, plan and ticket.

    ``arr_field`` names a person property holding the customer's ARR.
    """

    type: Literal["delighted"]
    api_key_env: str | None = Field(None, description="variable holding the API key (secret)")
    api_key_file: Path | None = Field(None, description="file holding the API key (secret)")
    customer_property: str = Field("customer_id", description="person property with the "
                                   "account id (the customer key)")
    plan_property: str = Field("plan", description="person property with the plan")
    tags_property: str = Field("tags", description="person property with tags (a list, or "
                               "text split on , or ;)")
    ticket_property: str = Field("ticket_id", description="person property with the id of "
                                 "the ticket the survey rates (in ticket_source)")
    scale: Scale = "0-10"


SourceConfig = Annotated[
    FileSourceConfig | ZendeskSourceConfig | IntercomSourceConfig | FreshdeskSourceConfig
    | DelightedSourceConfig,
    Field(discriminator="type"),
]


class FieldNames(_Section):
    score: str = "Customer Impact"
    csat: str = "CSAT"
    affected: str = "Affected Customers"


class LevelLabels(_Section):
    critical: str = "impact: critical"
    high: str = "impact: high"
    medium: str = "impact: medium"
    low: str = "impact: low"


class LevelColors(_Section):
    critical: str = "b60205"
    high: str = "d93f0b"
    medium: str = "fbca04"
    low: str = "c5def5"


class FileTrackerConfig(_Section):
    type: Literal["file"]
    path: Path
    default_repo: str | None = None


class ProjectTarget(_Section):
    owner: str
    owner_type: Literal["org", "user"] = "org"
    number: int = Field(ge=1)


class GithubTrackerConfig(_Section):
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

    @field_validator("repos")
    @classmethod
    def _owner_repo(cls, repos: list[str]) -> list[str]:
        for repo in repos:
            if repo.count("/") != 1 or not all(repo.split("/")):
                raise ValueError(f"'{repo}' is not OWNER/REPO")
        return repos


class JiraTrackerConfig(_Section):
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
                            "e.g. 'issuetype = Bug' (not applied to explicitly referenced keys)")
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
                             "429/503 or a dropped connection")
    timeout_seconds: float = Field(30.0, gt=0, description="connect/read timeout per request")

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


class ScheduleConfig(_Section):
    interval_minutes: int | None = Field(None, ge=1)
    cron: str | None = None
    timezone: str = "UTC"
    run_at_start: bool = True
    misfire_grace_seconds: int = Field(300, ge=1)
    healthy_within_minutes: int | None = Field(None, ge=1)
    lock_ttl_seconds: int = Field(3600, ge=60)
    stop_timeout_seconds: int = Field(
        25, ge=1, description="on SIGTERM, wait this long for the cycle to reach a safe point")

    @model_validator(mode="after")
    def _one_trigger(self) -> ScheduleConfig:
        if self.interval_minutes is not None and self.cron is not None:
            raise ValueError("set interval_minutes or cron, not both")
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone {self.timezone!r} is not an IANA time zone "
                             f"(e.g. UTC, Europe/Berlin)") from None
        if self.cron is not None:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(self.cron, timezone=zone)
            except ValueError as exc:
                raise ValueError(f"cron {self.cron!r} is not a crontab expression "
                                 f"(minute hour day month weekday): {exc}") from None
        return self


class Settings(_Section):
    """The whole configuration; built once by :func:`load_settings`."""

    store: StoreSettings = Field(default_factory=StoreSettings)
    impact: ImpactConfig = Field(default_factory=ImpactConfig)
    features: dict[str, FeatureConfig] = Field(default_factory=dict)
    sources: list[SourceConfig] = Field(default_factory=list)
    tracker: TrackerConfig
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    base_dir: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="after")
    def _unique_names(self) -> Settings:
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique; repeated: {', '.join(dupes)}")
        for name in self.features:
            if "|" in name or not name.strip():
                raise ValueError(f"feature name {name!r} may not be empty or contain '|'")
        return self

    def source(self, name: str) -> SourceConfig:
        for s in self.sources:
            if s.name == name:
                return s
        raise ConfigError(f"no source named '{name}' in [[sources]]; "
                          f"known: {', '.join(s.name for s in self.sources) or 'none'}")

    def resolve(self, path: Path) -> Path:
        """Return a path from the file, relative to the config file's folder."""
        return path if path.is_absolute() else self.base_dir / path


def _where(loc: tuple[int | str, ...], data: dict[str, Any]) -> str:
    """Render a pydantic location as the TOML path a user would look for."""
    parts: list[str] = []
    node: Any = data
    for item in loc:
        if isinstance(item, int):
            name = node[item].get("name") if isinstance(node, list) and item < len(node) \
                and isinstance(node[item], dict) else None
            parts[-1] += f"[{item}]" + (f" (name = {name!r})" if name else "")
            node = node[item] if isinstance(node, list) and item < len(node) else None
        elif item in {"csv", "jsonl", "zendesk", "intercom", "freshdesk", "delighted",
                      "file", "github", "jira"} and isinstance(node, dict) and "type" in node:
            continue  # the discriminator's branch, not a key the user wrote
        else:
            parts.append(str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts) or "(top level)"


def _problem(err: Any, data: dict[str, Any]) -> str:
    where = _where(tuple(err["loc"]), data)
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"{where}: unknown key — check its spelling against config.example.toml"
    if kind == "missing":
        return f"{where}: required key is missing — add it (see config.example.toml)"
    if kind == "union_tag_invalid":
        return f"{where}: {err['msg']}"
    msg = str(err["msg"]).removeprefix("Value error, ")
    return f"{where}: {msg}"


def parse_settings(data: dict[str, Any], base_dir: Path) -> Settings:
    """Validate a parsed TOML document, listing every problem at once."""
    try:
        return Settings.model_validate({**data, "base_dir": base_dir})
    except ValidationError as exc:
        problems = [_problem(e, data) for e in exc.errors()]
        raise ConfigError(f"{len(problems)} problem(s) in the configuration", problems) from None


def load_settings(path: Path) -> Settings:
    """Read and validate the configuration file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_settings(data, path.resolve().parent)


def read_secret(owner: str, env: str | None, file: Path | None, base_dir: Path,
                *, required: bool = True) -> SecretStr | None:
    """Return a secret named by an environment variable or a file; never echo its value."""
    if env:
        value = os.environ.get(env)
        if value:
            register_secret(value)
            return SecretStr(value.strip())
        if required and not file:
            raise ConfigError(f"{owner}: environment variable {env} is not set — export it, "
                              f"or name a secret file with the _file key")
    if file:
        path = file if file.is_absolute() else base_dir / file
        try:
            secret = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{owner}: cannot read secret file {path}: {exc.strerror}") from None
        register_secret(secret)
        return SecretStr(secret)
    if required:
        raise ConfigError(f"{owner}: no credentials configured — set token_env (or the _file form)")
    return None

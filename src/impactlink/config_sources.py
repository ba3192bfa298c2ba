"""The ``[[sources]]`` tables: file exports and the HTTP sources, one model per type."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from impactlink.config_section import Scale, Section, refuse_credentials


class _SourceBase(Section):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", max_length=100)
    enabled: bool = True
    complaint_multiplier: float = Field(1.0, ge=1.0, allow_inf_nan=False)
    segments: list[str] = Field(default_factory=list)
    ticket_source: str | None = None


class FileSourceConfig(_SourceBase):
    type: Literal["csv", "jsonl"]
    kind: Literal["csat", "tickets", "customers"]
    path: Path
    scale: Scale = "1-5"
    columns: dict[str, str] = Field(default_factory=dict)
    delimiter: str = Field(",", min_length=1, max_length=1)
    time_format: str | None = Field(None, description="strptime format of the file's times, "
                                    "e.g. \"%m/%d/%Y %H:%M\" (default: ISO 8601 or epoch "
                                    "seconds); a time without zone is UTC")

    @field_validator("time_format")
    @classmethod
    def _strptime_format(cls, value: str | None) -> str | None:
        if value is None:
            return None
        sample = datetime(2026, 11, 21, 13, 45, 30, tzinfo=UTC)
        try:
            datetime.strptime(sample.strftime(value), value)
        except ValueError as exc:
            raise ValueError(f"time_format {value!r} is not a strptime format ({exc}): use "
                             f"directives such as %Y-%m-%d %H:%M or %m/%d/%Y") from None
        if "%" not in value:
            raise ValueError(f"time_format {value!r} has no directive: use e.g. %m/%d/%Y %H:%M")
        return value

    @field_validator("delimiter")
    @classmethod
    def _delimiter_is_not_structure(cls, value: str) -> str:
        if value in '"\r\n\x00':
            raise ValueError("delimiter may not be a quote, a line end or NUL; use , ; | or a tab")
        return value


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
    arr_multiplier: float = Field(1.0, gt=0, allow_inf_nan=False)

    @field_validator("base_url")
    @classmethod
    def _no_credentials(cls, url: str | None) -> str | None:
        return None if url is None else refuse_credentials(
            url, fix="name the credential with this source's _env or _file keys")


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


def ticket_source_problems(sources: Sequence[_SourceBase]) -> list[str]:
    """Return a problem for each ``ticket_source`` that names no source of the list."""
    names = {source.name for source in sources}
    return [f"sources[{n}] (name = {source.name!r}).ticket_source: no source named "
            f"{source.ticket_source!r}; known: {', '.join(sorted(names))}"
            for n, source in enumerate(sources)
            if source.ticket_source and source.ticket_source not in names]


def _gives_tickets(source: _SourceBase) -> bool:
    return (isinstance(source, FileSourceConfig) and source.kind == "tickets") or isinstance(
        source, ZendeskSourceConfig | IntercomSourceConfig | FreshdeskSourceConfig)


def default_ticket_source(sources: list[_SourceBase]) -> list[_SourceBase]:
    """Return the sources with ``ticket_source`` defaulted to the one tickets source, if one.

    Only the survey sources whose ticket ids name another source's tickets take it: CSAT
    files and Delighted (helpdesk sources rate their own tickets).
    """
    tickets = [s.name for s in sources if _gives_tickets(s)]
    if len(tickets) != 1:
        return sources
    return [s.model_copy(update={"ticket_source": tickets[0]})
            if s.ticket_source is None and (isinstance(s, DelightedSourceConfig) or (
                isinstance(s, FileSourceConfig) and s.kind == "csat")) else s
            for s in sources]


def _known_ticket_sources(sources: list[_SourceBase]) -> list[_SourceBase]:
    if problems := ticket_source_problems(sources):
        raise ValueError("; ".join(problems))
    return sources


SourceList = Annotated[list[SourceConfig], AfterValidator(default_ticket_source),
                       AfterValidator(_known_ticket_sources)]
"""The ``[[sources]]`` array: with exactly one tickets source, it is the default
``ticket_source`` of the survey sources that set none; a ``ticket_source`` must name one."""

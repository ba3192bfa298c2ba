"""One Settings object, from one TOML file, validated at the edge and passed down.

Secrets are never literal: a key ending in ``_env`` names an environment variable and
one ending in ``_file`` names a file that holds the secret.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from impactlink.config_section import Scale, Section, refuse_credentials
from impactlink.config_sources import (
    DelightedSourceConfig,
    FileSourceConfig,
    FreshdeskSourceConfig,
    HttpSourceSettings,
    IntercomSourceConfig,
    SourceConfig,
    SourceList,
    ZendeskSourceConfig,
)
from impactlink.config_trackers import (
    FieldNames,
    FileTrackerConfig,
    GithubTrackerConfig,
    JiraTrackerConfig,
    LevelColors,
    LevelLabels,
    ProjectTarget,
    TrackerConfig,
)
from impactlink.errors import ConfigError
from impactlink.logs import register_secret

__all__ = [
    "ConfigError", "DelightedSourceConfig", "FeatureConfig", "FieldNames", "FileSourceConfig",
    "FileTrackerConfig", "FreshdeskSourceConfig", "GithubTrackerConfig", "HttpSourceSettings",
    "ImpactConfig", "IntercomSourceConfig", "JiraTrackerConfig", "LevelColors", "LevelLabels",
    "LevelShares", "ProjectTarget", "Scale", "ScheduleConfig", "Settings", "SourceConfig",
    "StoreSettings", "TrackerConfig", "ZendeskSourceConfig", "load_settings",
    "parse_settings", "read_secret",
]


class StoreSettings(Section):
    url: str = "sqlite:///impactlink.db"
    password_env: str | None = Field(None, description="variable holding the PostgreSQL "
                                     "password (secret), merged into url when connecting")
    password_file: Path | None = Field(None, description="file holding the PostgreSQL "
                                       "password (secret)")

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        if not url.startswith(("sqlite://", "postgresql")):
            raise ValueError("use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB")
        return refuse_credentials(url, user_allowed=True, fix=(
            "set password_env = \"VARIABLE\" or password_file = \"/run/secrets/...\" "
            "in [store] (or PGPASSWORD in the environment)"))

    @model_validator(mode="after")
    def _password_for_postgresql(self) -> StoreSettings:
        if (self.password_env or self.password_file) and self.url.startswith("sqlite"):
            raise ValueError("password_env / password_file apply to PostgreSQL only; "
                             "a SQLite store has no password")
        return self


class LevelShares(Section):
    critical: float = Field(0.02, gt=0, le=1)
    high: float = Field(0.005, gt=0, le=1)
    medium: float = Field(0.001, gt=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> LevelShares:
        if not self.critical >= self.high >= self.medium:
            raise ValueError("level_shares must satisfy critical >= high >= medium")
        return self


class ImpactConfig(Section):
    window_days: int = Field(90, ge=1, le=3650)
    prior_strength: float = Field(10.0, ge=0)
    min_responses: int = Field(5, ge=1)
    feature_attribution: Literal["shared", "full"] = "shared"
    text_attribution: bool = True
    text_weight: float = Field(1.0, ge=0, le=50)
    text_candidates: int = Field(5, ge=1, le=100)
    weight_by: Literal["none", "arr"] = "none"
    segment_weights: dict[str, float] = Field(default_factory=dict)
    level_shares: LevelShares = Field(default_factory=LevelShares)
    customer_base: int | None = Field(None, ge=1)
    quotes: int = Field(3, ge=0, le=10, description="representative comments in explanations")


class FeatureConfig(Section):
    tags: list[str] = Field(default_factory=list)
    labels: list[str] = Field(default_factory=list)
    components: list[str] = Field(default_factory=list)
    active_customers: int | None = Field(None, ge=1)


class ScheduleConfig(Section):
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


class Settings(Section):
    """The whole configuration; built once by :func:`load_settings`."""

    store: StoreSettings = Field(default_factory=StoreSettings)
    impact: ImpactConfig = Field(default_factory=ImpactConfig)
    features: dict[str, FeatureConfig] = Field(default_factory=dict)
    sources: SourceList = Field(default_factory=list)
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
    # A validator of a list may name the item itself ("sources[2] ..."): say it once.
    return msg if msg.startswith(where) else f"{where}: {msg}"


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
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory; give the configuration file "
                          f"(e.g. {path / 'impactlink.toml'})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration file: "
                          f"{exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 (invalid byte at offset {exc.start}); "
                          f"save the file as UTF-8") from None
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
            raise ConfigError(f"{owner}: cannot read secret file {path}: "
                              f"{exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{owner}: secret file {path} is not UTF-8 text: check that "
                              f"it is the right file") from None
        if not secret:
            raise ConfigError(f"{owner}: secret file {path} is empty")
        register_secret(secret)
        return SecretStr(secret)
    if required:
        raise ConfigError(f"{owner}: no credentials configured — set token_env (or the _file form)")
    return None

"""The exceptions impactlink raises on purpose.

    ImpactlinkError
    ├── ConfigError          bad configuration or usage: exit code 2, message says what to fix
    ├── SourceError          one source failed; the other sources still run
    │   └── SourceAuthError  401/403 from a source: credentials or permissions to fix
    ├── TrackerError         the tracker refused or failed a request
    │   ├── TrackerAuthError credentials or permissions to fix
    │   └── BudgetExhausted  rate budget or max_writes_per_run spent: stop, resume next cycle
    └── StoreError           the store cannot be opened or migrated

Messages never carry secrets or customer text.
"""

from __future__ import annotations


class ImpactlinkError(Exception):
    """Base of every error impactlink raises on purpose."""


class ConfigError(ImpactlinkError):
    """The configuration or the command line is wrong; the message says how to fix it."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class SourceError(ImpactlinkError):
    """A source could not be read; the run goes on with the others."""


class SourceAuthError(SourceError):
    """A source refused the credentials (401/403)."""


class TrackerError(ImpactlinkError):
    """The tracker refused or failed a request."""


class TrackerAuthError(TrackerError):
    """The tracker refused the credentials or the permissions are missing."""


class BudgetExhausted(TrackerError):
    """No rate budget (or write allowance) left this cycle; the next cycle resumes."""


class StoreError(ImpactlinkError):
    """The store cannot be opened or migrated."""

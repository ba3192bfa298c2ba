"""The base of every configuration table: unknown keys and literal secrets are refused."""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, ConfigDict, model_validator

Scale = Literal["1-5", "1-7", "1-10", "0-10", "good/bad", "thumbs"]

# Query parameters that carry a credential (sslkey, passfile and the like name files).
_CREDENTIAL_PARAM = re.compile(
    r"(?i)pass(?:word)?$|passwd$|^pwd$|token|secret|signature$|^sig$|credential|"
    r"^auth$|^authorization$|(?:^|[_-])(?:api|access|private)?[_-]?key$|^apikey$")

# Keys that would hold a secret literally; each has an _env / _file form instead.
_LITERAL_SECRETS = {"token", "password", "api_key", "api_token", "private_key", "secret",
                    "client_secret", "access_token", "key"}


class Section(BaseModel):
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


def refuse_credentials(url: str, *, fix: str, user_allowed: bool = False) -> str:
    """Return url, or refuse one carrying a password, a token or a key, without echoing it."""
    try:
        parts = urlsplit(url)
        has_password = parts.password is not None
        user = parts.username
    except ValueError:  # an unparseable port or address: the URL's own check says so later
        return url
    if has_password or (user and not user_allowed):
        raise ValueError(f"the URL carries a credential in its user part: remove it "
                         f"and {fix}")
    if any(_CREDENTIAL_PARAM.search(name) for name, _ in parse_qsl(parts.query,
                                                                   keep_blank_values=True)):
        raise ValueError(f"the URL carries a credential in its query: remove it and {fix}")
    return url

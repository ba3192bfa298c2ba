"""The base of every configuration table: unknown keys and literal secrets are refused."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

Scale = Literal["1-5", "1-7", "1-10", "0-10", "good/bad", "thumbs"]

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

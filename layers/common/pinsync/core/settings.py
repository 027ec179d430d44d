"""Configuration: one pydantic-settings class per function, read from the environment once per cold start.

A missing or invalid setting raises :class:`~pinsync.core.errors.ConfigurationError` naming the variable, so a
misconfigured deployment fails on its first invocation with a message an operator can act on.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pinsync.core.errors import ConfigurationError

PINTEREST_API_BASE_URL = "https://api.pinterest.com/v5"
AD_ACCOUNT_ID_PATTERN = r"^\d{1,18}$"  # digits, at most 18: the spec's ad_account_id path parameter


class Settings(BaseSettings):
    """Environment variables, matched case-insensitively; unknown ones ignored; immutable once read."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    @classmethod
    def of(cls, **values: object) -> Self:
        """Settings from these values and the defaults only, never the environment: how tests, the CLI and the local
        stack build a function's settings (validated like the environment's)."""
        return cls.model_validate(values)


class PinterestAccess(Settings):
    """The ad account and API that every function calling Pinterest talks to."""

    ad_account_id: str = Field(pattern=AD_ACCOUNT_ID_PATTERN)
    pinterest_api_base_url: str = Field(default=PINTEREST_API_BASE_URL, pattern=r"^https?://\S+$")
    pinterest_timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @field_validator("pinterest_api_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")


def load_settings[SettingsT: Settings](settings_class: type[SettingsT]) -> SettingsT:
    """Instantiate settings from the environment, turning validation errors into one clear message.

    Values are never echoed: a misplaced secret in the wrong variable must not end up in a log.
    """
    try:
        return settings_class()
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']).upper() or '?'}: {item['msg']}"
            for item in error.errors(include_url=False, include_input=False)
        )
        raise ConfigurationError(f"invalid configuration for {settings_class.__name__}: {problems}") from None

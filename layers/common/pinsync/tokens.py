"""The token secret's format and what it says about expiry.

The secret (JSON, stage AWSCURRENT) holds the Pinterest app credentials and the current token pair::

    {"client_id": "...", "client_secret": "...", "access_token": "pina_...", "refresh_token": "pinr_...",
     "access_token_expires_at": "2026-12-28T10:00:00Z", "refresh_token_expires_at": "2027-01-27T10:00:00Z",
     "scope": "ads:read,ads:write"}

Token fields are ``SecretStr`` so that a stray ``repr`` or log line shows ``**********``, never the value.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, SecretStr, field_serializer

from pinsync.events import UtcDatetime

# The token secret's value until `pinsync connect` (template.yaml: {"status": "not-connected"}).
NOT_CONNECTED_STATUS = "not-connected"

DEFAULT_SCOPE = "ads:read,ads:write"


class TokenSecret(BaseModel):
    """The JSON document stored in the token secret."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    client_id: str
    client_secret: SecretStr
    access_token: SecretStr
    refresh_token: SecretStr
    access_token_expires_at: UtcDatetime  # a time without a zone is UTC; one past the calendar in UTC, invalid
    refresh_token_expires_at: UtcDatetime
    scope: str = DEFAULT_SCOPE

    @field_serializer("client_secret", "access_token", "refresh_token", when_used="json")
    def _reveal(self, value: SecretStr) -> str:
        """Only the JSON written back to Secrets Manager carries the values."""
        return value.get_secret_value()

    @field_serializer("access_token_expires_at", "refresh_token_expires_at", when_used="json")
    def _iso(self, value: datetime) -> str:
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def to_secret_string(self) -> str:
        return self.model_dump_json()

    def access_days_left(self, now: datetime) -> float:
        return days_between(now, self.access_token_expires_at)

    def refresh_days_left(self, now: datetime) -> float:
        return days_between(now, self.refresh_token_expires_at)


def days_between(now: datetime, then: datetime) -> float:
    return round((then - now) / timedelta(days=1), 2)


def expiry_from(now: datetime, seconds: int) -> datetime:
    return (now + timedelta(seconds=seconds)).replace(microsecond=0)

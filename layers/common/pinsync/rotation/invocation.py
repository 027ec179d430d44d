"""The two ways the rotation function is invoked, validated: a Secrets Manager rotation step, or the scheduled expiry
check. A payload that is neither is refused with the names of the failing fields only (it may hold a RotationToken)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from pinsync.core.errors import PinsyncError
from pinsync.rotation.model import RotationStep


class RotationEvent(BaseModel):
    """What Secrets Manager sends. ``RotationToken`` is sensitive (cross-account identity check)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    step: RotationStep = Field(alias="Step")
    secret_id: str = Field(alias="SecretId", min_length=1)
    client_request_token: str = Field(alias="ClientRequestToken", min_length=1)
    rotation_token: SecretStr | None = Field(default=None, alias="RotationToken")


class ExpiryCheckEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    check: Literal["TokenExpiry"] = Field(alias="Check")
    secret_id: str = Field(alias="SecretId", min_length=1)


class InvalidEventError(PinsyncError):
    """The invocation payload is neither a rotation step nor an expiry check."""


def parse_event(event: Any) -> RotationEvent | ExpiryCheckEvent:
    """Validate the payload; the error names fields only (the payload may hold a RotationToken)."""
    model: type[RotationEvent] | type[ExpiryCheckEvent] = (
        ExpiryCheckEvent if isinstance(event, dict) and "Check" in event else RotationEvent
    )
    try:
        return model.model_validate(event)
    except ValidationError as error:
        fields = sorted({str(item["loc"][0]) for item in error.errors(include_input=False) if item["loc"]})
        raise InvalidEventError(
            f"not a rotation event (problem fields: {', '.join(fields) or 'whole event'})"
        ) from None

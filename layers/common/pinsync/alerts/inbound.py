"""The events the alert function understands, as pydantic models over powertools' ``EventBridgeModel``.

Five shapes, told apart by ``source`` and ``detail-type`` before validation (so an error names the right model):

- ``aws.cloudwatch`` / ``CloudWatch Alarm State Change``: one of this stack's alarms changed state (powertools has
  no model for it; shape from the CloudWatch documentation, "Alarm events and EventBridge");
- ``pinsync`` / ``Dataflow Run``: the sync function's per-invocation report (:class:`pinsync.events.DataflowRun`);
- ``pinsync`` / ``Token Rotation``: the rotation function's per-step report (:class:`pinsync.events.TokenRotation`);
- ``pinsync`` / ``Audience Health``: the health function's per-check report (:class:`pinsync.events.AudienceHealth`);
- ``aws.secretsmanager`` / ``AWS Service Event via CloudTrail``: ``RotationFailed`` / ``RotationAbandoned``.

Only the fields the alerts use are declared; everything else is ignored. Anything else, or a payload that does not
validate, comes back as :class:`Unrecognized` with a short reason that never quotes the payload.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pinsync.events import EVENT_SOURCE, AudienceHealth, DataflowRun, DetailType, TokenRotation

ALARM_SOURCE = "aws.cloudwatch"
ALARM_DETAIL_TYPE = "CloudWatch Alarm State Change"
SECRETS_MANAGER_SOURCE = "aws.secretsmanager"
CLOUDTRAIL_SERVICE_EVENT = "AWS Service Event via CloudTrail"
ROTATION_FAILURE_EVENTS = ("RotationFailed", "RotationAbandoned")


class _Detail(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


# -- CloudWatch alarm state change --------------------------------------------------------------------------------


class AlarmState(_Detail):
    value: Literal["OK", "ALARM", "INSUFFICIENT_DATA"]
    reason: str = ""
    reason_data: str | None = Field(default=None, alias="reasonData")
    timestamp: datetime

    def recent_datapoints(self) -> list[float]:
        """``reasonData.recentDatapoints`` (a JSON string inside the event), or [] when absent or unreadable."""
        try:
            data = json.loads(self.reason_data or "{}")
            points = data.get("recentDatapoints", []) if isinstance(data, dict) else []
            return [float(point) for point in points]
        except (TypeError, ValueError):
            return []


class AlarmStateChangeDetail(_Detail):
    alarm_name: str = Field(alias="alarmName", min_length=1)
    state: AlarmState
    previous_state: AlarmState | None = Field(default=None, alias="previousState")
    configuration: dict[str, Any] = Field(default_factory=dict)


class AlarmStateChangeEvent(EventBridgeModel):
    source: Literal["aws.cloudwatch"]
    detail_type: Literal["CloudWatch Alarm State Change"] = Field(alias="detail-type")
    detail: AlarmStateChangeDetail


# -- pinsync events (their details are the models the senders publish: pinsync.events) -----------------------------


class DataflowRunEvent(EventBridgeModel):
    source: Literal["pinsync"]
    detail_type: Literal["Dataflow Run"] = Field(alias="detail-type")
    detail: DataflowRun


class TokenRotationEvent(EventBridgeModel):
    source: Literal["pinsync"]
    detail_type: Literal["Token Rotation"] = Field(alias="detail-type")
    detail: TokenRotation


class AudienceHealthEvent(EventBridgeModel):
    source: Literal["pinsync"]
    detail_type: Literal["Audience Health"] = Field(alias="detail-type")
    detail: AudienceHealth


# -- Secrets Manager rotation failure (CloudTrail service event) --------------------------------------------------


class RotationEventData(_Detail):
    secret_id: str = Field(alias="SecretId", min_length=1)


class SecretsManagerRotationDetail(_Detail):
    event_source: Literal["secretsmanager.amazonaws.com"] = Field(alias="eventSource")
    event_name: Literal["RotationFailed", "RotationAbandoned"] = Field(alias="eventName")
    event_time: datetime = Field(alias="eventTime")
    additional_event_data: RotationEventData = Field(alias="additionalEventData")


class SecretsManagerRotationEvent(EventBridgeModel):
    source: Literal["aws.secretsmanager"]
    detail_type: Literal["AWS Service Event via CloudTrail"] = Field(alias="detail-type")
    detail: SecretsManagerRotationDetail


AlertEvent = (
    AlarmStateChangeEvent | DataflowRunEvent | TokenRotationEvent | AudienceHealthEvent | SecretsManagerRotationEvent
)

_MODELS: dict[tuple[str, str], type[AlertEvent]] = {
    (ALARM_SOURCE, ALARM_DETAIL_TYPE): AlarmStateChangeEvent,
    (EVENT_SOURCE, DetailType.DATAFLOW_RUN.value): DataflowRunEvent,
    (EVENT_SOURCE, DetailType.TOKEN_ROTATION.value): TokenRotationEvent,
    (EVENT_SOURCE, DetailType.AUDIENCE_HEALTH.value): AudienceHealthEvent,
    (SECRETS_MANAGER_SOURCE, CLOUDTRAIL_SERVICE_EVENT): SecretsManagerRotationEvent,
}


@dataclass(frozen=True)
class Unrecognized:
    """Why an event was not understood: ``not_a_dict``, ``unknown_event`` or ``invalid_fields``. ``fields`` names
    the failing locations (never their values); ``kind`` is the (source, detail-type) pair when both are strings
    from the known set, else empty, so nothing of an unknown payload reaches a log."""

    reason: str
    kind: str = ""
    fields: tuple[str, ...] = ()


def parse_alert_event(raw: Any) -> AlertEvent | Unrecognized:
    if not isinstance(raw, dict):
        return Unrecognized("not_a_dict")
    key = (raw.get("source"), raw.get("detail-type"))
    model = _MODELS.get(key) if all(isinstance(part, str) for part in key) else None  # type: ignore[arg-type]
    if model is None:
        return Unrecognized("unknown_event")
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        fields = sorted(
            {
                ".".join(str(part) for part in item["loc"])
                for item in error.errors(include_input=False, include_url=False)
            }
        )
        return Unrecognized("invalid_fields", kind=f"{key[0]}/{key[1]}", fields=tuple(fields))

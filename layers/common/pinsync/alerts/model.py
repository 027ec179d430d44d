"""What the alert function decides and sends: alert types and severities, the deployment an alert is about, the
decisions classification returns (an alert, a recovery, nothing), the open-alert record suppression keeps, and the
rendered message. Types only; the rules are in ``classify``, ``alarms``, ``suppression`` and ``render``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

RECONNECT = "run `pinsync connect` to reconnect the Pinterest account"


class AlertType(StrEnum):
    DATAFLOW_RUN_FAILED = "dataflow_run_failed"
    DATAFLOW_RUN_DELAYED = "dataflow_run_delayed"
    SKIPPED_RATE_EXCEEDED = "skipped_rate_exceeded"
    DEAD_LETTER_QUEUE = "dead_letter_queue"
    TOKEN_EXPIRING = "token_expiring"  # noqa: S105 - an alert type, not a credential
    TOKEN_ROTATION_FAILED = "token_rotation_failed"  # noqa: S105 - an alert type, not a credential
    AUDIENCE_TOO_SMALL = "audience_too_small"
    AUDIENCE_SHRUNK = "audience_shrunk"
    AUDIENCE_MISSING = "audience_missing"
    RECOVERED = "recovered"
    DEAD_LETTERS_REDRIVEN = "dead_letters_redriven"


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


ALL_ALERT_TYPES: tuple[str, ...] = tuple(alert_type.value for alert_type in AlertType)

# How long a closed-or-forgotten open alert stays in the table after its window (DynamoDB TTL), so that an alarm
# recovering days later still finds the alert it recovers from.
OPEN_ALERT_RETENTION = timedelta(days=14)


@dataclass(frozen=True)
class AlertContext:
    """The deployment an alert is about (alert function settings): names only."""

    destination_name: str
    stack_name: str
    skipped_rate_threshold: float = 0.01
    sync_log_group: str = ""
    rotation_log_group: str = ""
    dashboard_name: str = ""
    dead_letter_queue_name: str = ""
    token_secret_id: str = ""
    health_log_group: str = ""
    audience_too_small_after_hours: float = 72.0
    audience_shrink_threshold: float = 0.5

    @property
    def alarm_prefix(self) -> str:
        return f"{self.stack_name}-"


@dataclass(frozen=True)
class Alert:
    """One thing a person should know. ``key`` identifies the open problem for suppression."""

    alert_type: AlertType
    severity: Severity
    key: str
    title: str
    what: str
    next_step: str
    occurred_at: datetime
    facts: tuple[tuple[str, str], ...] = ()
    links: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Recovery:
    """An alarm returned to OK, or a check found the problem gone: close ``key`` and, if an alert was open, say so.
    ``subject`` names what recovered (default: the alarm)."""

    key: str
    alarm_name: str
    reason: str
    occurred_at: datetime
    links: tuple[tuple[str, str], ...] = ()
    subject: str = ""


@dataclass(frozen=True)
class Ignored:
    """The event needs no alert (below threshold, another destination, a successful step...)."""

    reason: str


Decision = Alert | Recovery | Ignored


@dataclass(frozen=True)
class RedriveCounts:
    """What an automatic redrive of the dead-letter queue did (counts only)."""

    moved: int
    left: int  # refused by the contract (poison): left in the dead-letter queue
    failed: int  # could not be sent: still in the dead-letter queue
    complete: bool  # False when the time or the limit ran out with messages still to look at
    already_redriven: int = 0  # failed again after an automatic redrive: left for a person, never sent round again
    no_room_for_mark: int = 0  # valid, but ten message attributes leave no room for the mark: left for a person


@dataclass(frozen=True)
class OpenAlert:
    """What the state table remembers about a sent alert (``pk = ALERT#<key>``, ``sk = OPEN``)."""

    key: str
    alert_type: str
    severity: str
    title: str
    opened_at: datetime
    suppress_until: datetime

    @property
    def expires_at(self) -> datetime:
        """DynamoDB TTL: after the window plus a retention, so a late recovery still finds it."""
        return self.suppress_until + OPEN_ALERT_RETENTION


@dataclass(frozen=True)
class RenderedAlert:
    alert_type: str
    severity: str
    subject: str
    text: str
    attributes: dict[str, str] = field(default_factory=dict)
    webhook_payload: dict[str, Any] = field(default_factory=dict)

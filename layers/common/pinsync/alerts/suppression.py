"""Suppression: the same open alert is not sent again within its window, and a recovery closes it.

The rule lives here; the state table's conditional write (``pinsync.adapters.dynamo_alerts``) enforces it atomically
between concurrent invocations.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pinsync.alerts.model import Alert, AlertContext, AlertType, OpenAlert, Recovery, Severity
from pinsync.alerts.text import duration


def open_alert(alert: Alert, now: datetime, window: timedelta) -> OpenAlert:
    return OpenAlert(
        key=alert.key,
        alert_type=alert.alert_type.value,
        severity=alert.severity.value,
        title=alert.title,
        opened_at=now,
        suppress_until=now + window,
    )


def is_suppressed(existing: OpenAlert | None, now: datetime) -> bool:
    """An alert is suppressed while the same key was sent less than one window ago."""
    return existing is not None and now < existing.suppress_until


def recovered_alert(recovery: Recovery, opened: OpenAlert, ctx: AlertContext) -> Alert:
    """The ``recovered`` message for an alert that was open."""
    lasted = max(recovery.occurred_at - opened.opened_at, timedelta(0))
    return Alert(
        alert_type=AlertType.RECOVERED,
        severity=Severity.INFO,
        key=recovery.key,
        title=f"Recovered: {opened.title}",
        what=(
            f'{recovery.subject or "Alarm " + recovery.alarm_name} of destination "{ctx.destination_name}" is back to OK '
            f"(the {opened.alert_type} alert was opened {duration(lasted)} before). {recovery.reason}"
        ),
        next_step="Nothing to do. If it keeps flapping, look at the dashboard for the trend.",
        occurred_at=recovery.occurred_at,
        facts=(("Recovered from", opened.alert_type), ("Open for", duration(lasted))),
        links=recovery.links,
    )

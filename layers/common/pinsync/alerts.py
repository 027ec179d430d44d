"""Dataflow alerts, as pure functions: classify an event into alerts, decide suppression, render a message.

No boto3, no HTTP, no clock: the alert function's wiring (``pinsync.alerts_wiring``) parses the event
(``pinsync.alert_models``), calls :func:`classify`, asks the state table whether each alert is already open
(:func:`open_alert` / :func:`is_suppressed` describe the rule the table's conditional write enforces), then publishes
what :func:`render` produced.

Alert types (the SNS message attribute ``alert_type`` subscribers filter on):

==========================  ========================================================================================
``dataflow_run_failed``     a run could not send identities (``Dataflow Run`` failed > 0), or the sync function errors
``dataflow_run_delayed``    the oldest queued message is older than ``MaxMessageAgeSeconds`` (the seed's "delay")
``skipped_rate_exceeded``   a run's excluded share is above ``SkippedRateThreshold`` (the seed's only streaming alert)
``dead_letter_queue``       messages are waiting in the dead-letter queue
``token_expiring``          the access or refresh token has few days left
``token_rotation_failed``   a rotation step failed (``Token Rotation`` event, Secrets Manager, or the alarm)
``recovered``               an alarm returned to OK after an alert was sent
==========================  ========================================================================================

Messages carry counts, reasons, names and console links: never an identifier, a token or an account id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from pinsync.alert_models import (
    AlarmStateChangeEvent,
    AlertEvent,
    DataflowRunEvent,
    SecretsManagerRotationEvent,
    TokenRotationEvent,
)

RECONNECT = "run `pinsync connect` to reconnect the Pinterest account"


class AlertType(StrEnum):
    DATAFLOW_RUN_FAILED = "dataflow_run_failed"
    DATAFLOW_RUN_DELAYED = "dataflow_run_delayed"
    SKIPPED_RATE_EXCEEDED = "skipped_rate_exceeded"
    DEAD_LETTER_QUEUE = "dead_letter_queue"
    TOKEN_EXPIRING = "token_expiring"  # noqa: S105 - an alert type, not a credential
    TOKEN_ROTATION_FAILED = "token_rotation_failed"  # noqa: S105 - an alert type, not a credential
    RECOVERED = "recovered"


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


ALL_ALERT_TYPES: tuple[str, ...] = tuple(alert_type.value for alert_type in AlertType)

# Alarm name = "<stack name>-<purpose>" (template.yaml). The token alarms come with the rotation function.
ALARM_PURPOSES: dict[str, tuple[AlertType, Severity]] = {
    "dead-letter-queue": (AlertType.DEAD_LETTER_QUEUE, Severity.CRITICAL),
    "queue-delay": (AlertType.DATAFLOW_RUN_DELAYED, Severity.WARNING),
    "sync-errors": (AlertType.DATAFLOW_RUN_FAILED, Severity.CRITICAL),
    "access-token-expiry": (AlertType.TOKEN_EXPIRING, Severity.CRITICAL),
    "refresh-token-expiry": (AlertType.TOKEN_EXPIRING, Severity.CRITICAL),
    "token-rotation-failed": (AlertType.TOKEN_ROTATION_FAILED, Severity.WARNING),
    "lost-alerts": (AlertType.DATAFLOW_RUN_FAILED, Severity.WARNING),
}

# One open alert per problem, whichever signal reported it: a failed rotation arrives as a Token Rotation event, a
# Secrets Manager RotationFailed event and (within the hour) the token-rotation-failed alarm; a person gets one message.
TOKEN_ROTATION_KEY = "token_rotation_failed"  # noqa: S105 - a state key, not a credential
DATAFLOW_RUN_FAILED_KEY = "dataflow_run_failed"
SKIPPED_RATE_KEY = "skipped_rate_exceeded"

# How long a closed-or-forgotten open alert stays in the table after its window (DynamoDB TTL), so that an alarm
# recovering days later still finds the alert it recovers from.
OPEN_ALERT_RETENTION = timedelta(days=14)

_EXCLUSION_ADVICE = {
    "not_activated": "the audience is not in the ActivatedAudiences parameter: add it, or stop sending it to the queue",
    "invalid_identity": "the CDP sends malformed identifiers: check the identity values its export maps",
    "unmapped_namespace": "profiles carry an identity namespace pinsync does not map: check the CDP's export mapping",
    "unknown_status": "profiles carry a segment status other than realized/existing/exited",
}
_FAILURE_ADVICE = {
    "unauthorized": f"Pinterest refused the token: check the latest Token Rotation event and {RECONNECT}",
    "rate_limited": "Pinterest rate limits the account: lower the MaximumConcurrency parameter if this persists",
    "pinterest_unavailable": "Pinterest was unavailable: nothing to do if the next runs succeed",
    "deadline": "the function ran out of time: lower BatchSize or raise the function timeout",
    "creation_in_progress": "a customer list was still being created: this clears on the next delivery",
}


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
    """An alarm returned to OK: close ``key`` and, if an alert was open, say so."""

    key: str
    alarm_name: str
    reason: str
    occurred_at: datetime
    links: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Ignored:
    """The event needs no alert (below threshold, another destination, a successful step...)."""

    reason: str


Decision = Alert | Recovery | Ignored


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


# -- suppression (the rule; the state table's conditional write enforces it atomically) ----------------------------


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
            f'Alarm {recovery.alarm_name} of destination "{ctx.destination_name}" is back to OK '
            f"(the {opened.alert_type} alert was opened {_duration(lasted)} before). {recovery.reason}"
        ),
        next_step="Nothing to do. If it keeps flapping, look at the dashboard for the trend.",
        occurred_at=recovery.occurred_at,
        facts=(("Recovered from", opened.alert_type), ("Open for", _duration(lasted))),
        links=recovery.links,
    )


# -- classification -------------------------------------------------------------------------------------------------


def classify(event: AlertEvent, ctx: AlertContext) -> list[Decision]:
    if isinstance(event, AlarmStateChangeEvent):
        return [_classify_alarm(event, ctx)]
    if isinstance(event, DataflowRunEvent):
        return _classify_run(event, ctx)
    if isinstance(event, TokenRotationEvent):
        return [_classify_rotation(event, ctx)]
    return [_classify_secret_rotation(event, ctx)]


def _classify_alarm(event: AlarmStateChangeEvent, ctx: AlertContext) -> Decision:
    detail = event.detail
    name = detail.alarm_name
    purpose = name.removeprefix(ctx.alarm_prefix)
    # The rule matches the "<stack>-" prefix, which the alarms of a stack named "<stack>-eu" share: only the purposes
    # of this template's alarms are this stack's.
    if not name.startswith(ctx.alarm_prefix) or purpose not in ALARM_PURPOSES:
        return Ignored("other_stack_alarm")
    key = TOKEN_ROTATION_KEY if purpose == "token-rotation-failed" else f"alarm:{name}"
    region = event.region
    links = (("Alarm", alarm_url(region, name)), *_dashboard_link(region, ctx))
    state = detail.state.value
    previous = detail.previous_state.value if detail.previous_state else None
    if state == "OK":
        if previous != "ALARM":
            return Ignored("ok_without_alarm")
        return Recovery(key, name, _sentence(detail.state.reason), detail.state.timestamp, links)
    if state != "ALARM":
        return Ignored("insufficient_data")
    alert_type, severity = ALARM_PURPOSES[purpose]
    latest = _latest(detail.state.recent_datapoints())
    base = Alert(
        alert_type=alert_type,
        severity=severity,
        key=key,
        title="",
        what="",
        next_step="",
        occurred_at=detail.state.timestamp,
        links=links,
    )
    render_alarm = _ALARM_RENDERERS.get(purpose, _generic_alarm)
    return render_alarm(base, name, latest, _sentence(detail.state.reason), region, ctx)


def _dlq_alarm(base: Alert, name: str, latest: float | None, reason: str, region: str, ctx: AlertContext) -> Alert:
    count = f"{latest:.0f}" if latest is not None else "Some"
    return replace(
        base,
        title=f'Messages in the dead-letter queue of "{ctx.destination_name}"',
        what=(
            f"{count} audience update message(s) failed every delivery attempt and now wait in the dead-letter queue "
            f"{ctx.dead_letter_queue_name or '(DeadLetterQueueUrl output)'}; they will not reach Pinterest until they "
            f"are redriven. {reason}"
        ),
        next_step=(
            "Find the cause in the sync function's logs (messages_rejected / failed reasons), fix it, then redrive the "
            "dead-letter queue to the audience queue (SQS console: Start DLQ redrive, or "
            "`aws sqs start-message-move-task --source-arn <DeadLetterQueueArn output>`)."
        ),
        facts=(("Messages waiting", count),),
        links=(*base.links, *_log_link("Sync function logs", region, ctx.sync_log_group)),
    )


def _delay_alarm(base: Alert, name: str, latest: float | None, reason: str, region: str, ctx: AlertContext) -> Alert:
    age = _duration(timedelta(seconds=latest)) if latest is not None else "too long"
    return replace(
        base,
        title=f'Audience updates for "{ctx.destination_name}" are delayed',
        what=(
            f"The oldest message on the audience queue has waited {age}: updates reach Pinterest late. "
            f"Usually Pinterest is slow or rate limiting, the token is refused, or the function is failing. {reason}"
        ),
        next_step=(
            "Open the dashboard: if 429s or errors rise, wait or lower MaximumConcurrency; if IdentitiesFailed shows "
            f"unauthorized, {RECONNECT}; if the function errors, read its logs."
        ),
        facts=(("Oldest message age", age),),
        links=(*base.links, *_log_link("Sync function logs", region, ctx.sync_log_group)),
    )


def _errors_alarm(base: Alert, name: str, latest: float | None, reason: str, region: str, ctx: AlertContext) -> Alert:
    count = f"{latest:.0f}" if latest is not None else "Some"
    return replace(
        base,
        title=f'The sync function of "{ctx.destination_name}" is failing',
        what=(
            f"{count} sync invocation(s) ended in an error: whole batches go back to the queue and, after repeated "
            f"failures, to the dead-letter queue. {reason}"
        ),
        next_step=(
            "Read the error in the sync function's logs (level ERROR). A configuration error names the setting to fix; "
            f"a token error means {RECONNECT}."
        ),
        facts=(("Errors", count),),
        links=(*base.links, *_log_link("Sync function logs", region, ctx.sync_log_group)),
    )


def _token_alarm(base: Alert, name: str, latest: float | None, reason: str, region: str, ctx: AlertContext) -> Alert:
    which = "refresh" if name.endswith("refresh-token-expiry") else "access"
    left = f"{latest:.1f} days" if latest is not None else "no data (the rotation function is not reporting)"
    return replace(
        base,
        title=f'The Pinterest {which} token of "{ctx.destination_name}" expires soon',
        what=(
            f"The {which} token has {left} left; when it expires the sync stops sending to Pinterest. "
            f"Automatic rotation should have renewed it. {reason}"
        ),
        next_step=(
            "Check the latest Token Rotation event and the rotation logs; if rotation reports invalid_grant or "
            f"not_connected, {RECONNECT}."
        ),
        facts=((f"{which.capitalize()} token days left", f"{latest:.1f}" if latest is not None else "unknown"),),
        links=(*base.links, *_log_link("Token rotation logs", region, ctx.rotation_log_group)),
    )


def _rotation_alarm(base: Alert, name: str, latest: float | None, reason: str, region: str, ctx: AlertContext) -> Alert:
    count = f"{latest:.0f}" if latest is not None else "Some"
    return replace(
        base,
        title=f'Pinterest token rotation failed for "{ctx.destination_name}"',
        what=f"{count} token rotation step(s) failed in the last hour; the token in use is unchanged. {reason}",
        next_step=(
            "Read the reason in the latest Token Rotation event or the rotation logs; invalid_grant or not_connected "
            f"means {RECONNECT}. Otherwise Secrets Manager retries on the next schedule."
        ),
        facts=(("Failed steps", count),),
        links=(*base.links, *_log_link("Token rotation logs", region, ctx.rotation_log_group)),
    )


def _lost_alerts_alarm(
    base: Alert, name: str, latest: float | None, reason: str, region: str, ctx: AlertContext
) -> Alert:
    count = f"{latest:.0f}" if latest is not None else "Some"
    return replace(
        base,
        title=f'Alerts of "{ctx.destination_name}" may have been lost',
        what=(
            f"{count} event(s) meant for the alert function could not be delivered to it or failed in it after its "
            f"retries; they wait in the alert events dead-letter queue (14 days). Some alerts may not have been sent. "
            f"{reason}"
        ),
        next_step=(
            "Read the alert function's logs (level ERROR) and its dashboard widget; check the queue's messages for "
            "what was missed (they hold no identifiers or tokens), then purge it once handled."
        ),
        facts=(("Events waiting", count),),
    )


def _generic_alarm(base: Alert, name: str, latest: float | None, reason: str, region: str, ctx: AlertContext) -> Alert:
    return replace(
        base,
        title=f'Alarm {name} of "{ctx.destination_name}" is in ALARM',
        what=f"CloudWatch alarm {name} changed to ALARM. {reason}",
        next_step="Open the alarm for its description and metric, and the dashboard for context.",
        facts=(("Latest value", f"{latest:g}" if latest is not None else "unknown"),),
    )


_ALARM_RENDERERS = {
    "dead-letter-queue": _dlq_alarm,
    "queue-delay": _delay_alarm,
    "sync-errors": _errors_alarm,
    "access-token-expiry": _token_alarm,
    "refresh-token-expiry": _token_alarm,
    "token-rotation-failed": _rotation_alarm,
    "lost-alerts": _lost_alerts_alarm,
}


def _classify_run(event: DataflowRunEvent, ctx: AlertContext) -> list[Decision]:
    run = event.detail
    if run.destination.name != ctx.destination_name:
        return [Ignored("other_destination")]
    ids = run.identities
    region = event.region
    facts = (
        ("Profiles received", str(run.profiles_received)),
        ("Identities activated", f"{ids.activated} ({ids.added} added, {ids.removed} removed)"),
        ("Identities excluded", str(ids.excluded)),
        ("Identities failed", str(ids.failed)),
        ("Messages retried", str(run.messages.retried)),
    )
    links = (*_dashboard_link(region, ctx), *_log_link("Sync function logs", region, ctx.sync_log_group))
    decisions: list[Decision] = []
    if ids.failed > 0:
        reasons = _by_reason(ids.failed_by_reason)
        advice = [_FAILURE_ADVICE[r] for r in _top(ids.failed_by_reason) if r in _FAILURE_ADVICE]
        decisions.append(
            Alert(
                alert_type=AlertType.DATAFLOW_RUN_FAILED,
                severity=Severity.WARNING,
                key=DATAFLOW_RUN_FAILED_KEY,
                title=f'Identities failed to reach Pinterest for "{ctx.destination_name}"',
                what=(
                    f"A sync run could not send {ids.failed} of {ids.activated + ids.excluded + ids.failed} identities "
                    f"to Pinterest ({reasons}). Their {run.messages.retried} message(s) go back to the queue and are "
                    "retried; nothing is dropped until the dead-letter queue."
                ),
                next_step=(
                    "; ".join(advice) + "."
                    if advice
                    else "Nothing to do if the next runs succeed; if failures persist, read the sync function's logs."
                ),
                occurred_at=event.time,
                facts=facts,
                links=links,
            )
        )
    if run.excluded_share > ctx.skipped_rate_threshold:
        top = _top(ids.excluded_by_reason)
        advice = [f"{r}: {_EXCLUSION_ADVICE[r]}" for r in top if r in _EXCLUSION_ADVICE]
        if any(r.startswith("pinterest_error_") for r in top):
            advice.append("pinterest_error_*: Pinterest rejected the records (see the error code in the logs)")
        decisions.append(
            Alert(
                alert_type=AlertType.SKIPPED_RATE_EXCEEDED,
                severity=Severity.WARNING,
                key=SKIPPED_RATE_KEY,
                title=f'Skipped rate above {_percent(ctx.skipped_rate_threshold)} for "{ctx.destination_name}"',
                what=(
                    f"A sync run excluded {ids.excluded} identities, {_percent(run.excluded_share)} of those that "
                    f"reached a verdict (threshold {_percent(ctx.skipped_rate_threshold)}): "
                    f"{_by_reason(ids.excluded_by_reason)}. Excluded identities are never sent."
                ),
                next_step=("; ".join(advice) + ".")
                if advice
                else "Look at IdentitiesExcluded by reason on the dashboard.",
                occurred_at=event.time,
                facts=(*facts, ("Excluded share", _percent(run.excluded_share))),
                links=links,
            )
        )
    return decisions or [Ignored("below_threshold")]


def _classify_rotation(event: TokenRotationEvent, ctx: AlertContext) -> Decision:
    rotation = event.detail
    if rotation.destination.name != ctx.destination_name:
        return Ignored("other_destination")
    if rotation.outcome != "failed":
        return Ignored("rotation_not_failed")
    reason = rotation.reason or "unknown"
    facts: list[tuple[str, str]] = [("Step", rotation.step), ("Reason", reason)]
    if rotation.current is not None:
        facts.append(("Access token expires", _iso(rotation.current.access_token_expires_at)))
        facts.append(("Refresh token expires", _iso(rotation.current.refresh_token_expires_at)))
    if rotation.needs_reconnect:
        next_step = f"A person must act: {RECONNECT}. Until then the current token keeps working until it expires."
    else:
        next_step = (
            "Nothing to do yet: Secrets Manager retries the rotation on its schedule and the current token still "
            "works. If this repeats, read the rotation logs."
        )
    return Alert(
        alert_type=AlertType.TOKEN_ROTATION_FAILED,
        severity=Severity.CRITICAL if rotation.needs_reconnect else Severity.WARNING,
        key=TOKEN_ROTATION_KEY,
        title=f'Pinterest token rotation failed for "{ctx.destination_name}"',
        what=(
            f"The {rotation.step} step of the token rotation failed ({reason}); the token in use (AWSCURRENT) is "
            "unchanged."
        ),
        next_step=next_step,
        occurred_at=event.time,
        facts=tuple(facts),
        links=(
            *_log_link("Token rotation logs", event.region, ctx.rotation_log_group),
            *_dashboard_link(event.region, ctx),
        ),
    )


def _classify_secret_rotation(event: SecretsManagerRotationEvent, ctx: AlertContext) -> Decision:
    detail = event.detail
    secret = detail.additional_event_data.secret_id
    if ctx.token_secret_id and not _same_secret(secret, ctx.token_secret_id):
        return Ignored("other_secret")
    abandoned = detail.event_name == "RotationAbandoned"
    return Alert(
        alert_type=AlertType.TOKEN_ROTATION_FAILED,
        severity=Severity.WARNING,
        key=TOKEN_ROTATION_KEY,
        title=f'Pinterest token rotation {"abandoned" if abandoned else "failed"} for "{ctx.destination_name}"',
        what=(
            f"Secrets Manager reports {detail.event_name} for the token secret {secret_name(secret)}; the token in use "
            "(AWSCURRENT) is unchanged."
            + (" A pending version was left behind and has been discarded." if abandoned else "")
        ),
        next_step=(
            "Read the failed step in the rotation logs or the latest Token Rotation event; invalid_grant or "
            f"not_connected means {RECONNECT}. Otherwise Secrets Manager retries on the next schedule."
        ),
        occurred_at=detail.event_time,
        facts=(("Event", detail.event_name), ("Secret", secret_name(secret))),
        links=(*_log_link("Token rotation logs", event.region, ctx.rotation_log_group),),
    )


# -- rendering ------------------------------------------------------------------------------------------------------

SUBJECT_MAX = 100  # SNS Subject limit


def render(alert: Alert, ctx: AlertContext) -> RenderedAlert:
    severity = alert.severity.value.upper()
    subject = _subject(f"[pinsync {severity}] {alert.title}")
    lines = [
        f"{severity}: {alert.title}",
        "",
        f"What happened: {alert.what}",
        "",
        f"Destination: {ctx.destination_name} (stack {ctx.stack_name})",
        f"When: {_iso(alert.occurred_at)}",
        *(f"{label}: {value}" for label, value in alert.facts),
        "",
        f"Next step: {alert.next_step}",
    ]
    if alert.links:
        lines += ["", "Links:", *(f"- {label}: {url}" for label, url in alert.links)]
    footer = (
        "The alert is closed."
        if alert.alert_type is AlertType.RECOVERED
        else "While it stays open, repeats are not sent again within the suppression window."
    )
    lines += ["", f"Alert type: {alert.alert_type.value}. {footer}"]
    text = "\n".join(lines)
    return RenderedAlert(
        alert_type=alert.alert_type.value,
        severity=alert.severity.value,
        subject=subject,
        text=text,
        attributes={"alert_type": alert.alert_type.value, "severity": alert.severity.value},
        webhook_payload=slack_payload(alert, ctx),
    )


def slack_payload(alert: Alert, ctx: AlertContext) -> dict[str, Any]:
    """A Slack-compatible incoming-webhook body: ``text`` (fallback) and ``blocks``."""
    icon = {Severity.CRITICAL: ":red_circle:", Severity.WARNING: ":warning:", Severity.INFO: ":white_check_mark:"}
    facts = [{"type": "mrkdwn", "text": f"*{label}*\n{value}"} for label, value in alert.facts][:10]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": alert.title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": alert.what}},
    ]
    if facts:
        blocks.append({"type": "section", "fields": facts})
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*Next step:* {alert.next_step}"}})
    context = [f"{alert.alert_type.value} · {alert.severity.value} · {ctx.destination_name}"]
    context += [f"<{url}|{label}>" for label, url in alert.links]
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]})
    return {"text": f"{icon[alert.severity]} {alert.title}", "blocks": blocks}


# -- console links and small helpers --------------------------------------------------------------------------------


def _console(region: str) -> str:
    return f"https://{region}.console.aws.amazon.com"


def alarm_url(region: str, alarm_name: str) -> str:
    return f"{_console(region)}/cloudwatch/home?region={region}#alarmsV2:alarm/{quote(alarm_name, safe='')}"


def log_group_url(region: str, log_group: str) -> str:
    # The console's fragment encoding: "/" -> %2F -> %252F -> $252F.
    encoded = quote(quote(log_group, safe=""), safe="").replace("%", "$")
    return f"{_console(region)}/cloudwatch/home?region={region}#logsV2:log-groups/log-group/{encoded}"


def dashboard_url(region: str, dashboard_name: str) -> str:
    return f"{_console(region)}/cloudwatch/home?region={region}#dashboards/dashboard/{quote(dashboard_name, safe='')}"


def _log_link(label: str, region: str, log_group: str) -> tuple[tuple[str, str], ...]:
    return ((label, log_group_url(region, log_group)),) if log_group else ()


def _dashboard_link(region: str, ctx: AlertContext) -> tuple[tuple[str, str], ...]:
    return (("Dashboard", dashboard_url(region, ctx.dashboard_name)),) if ctx.dashboard_name else ()


def secret_name(secret_id: str) -> str:
    """The name part of a secret ARN without Secrets Manager's 6-character suffix (no account id in messages)."""
    match = re.match(r"^arn:[^:]+:secretsmanager:[^:]*:[^:]*:secret:(.+?)(-[A-Za-z0-9]{6})?$", secret_id)
    return match.group(1) if match else secret_id


def _same_secret(reported: str, configured: str) -> bool:
    return reported == configured or secret_name(reported) == secret_name(configured)


def _latest(points: list[float]) -> float | None:
    return points[0] if points else None  # CloudWatch lists the most recent datapoint first


def _top(counts: Mapping[str, int], n: int = 3) -> list[str]:
    return [reason for reason, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:n]]


def _by_reason(counts: Mapping[str, int]) -> str:
    if not counts:
        return "no reason recorded"
    return ", ".join(f"{reason} {counts[reason]}" for reason in _top(counts, n=len(counts)))


def _percent(share: float) -> str:
    return f"{share * 100:.2f}".rstrip("0").rstrip(".") + "%"


def _duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172_800:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} days"


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return f"CloudWatch: {text}" if text else ""


def _subject(text: str) -> str:
    # SNS subjects: printable ASCII, no line breaks, at most 100 characters.
    ascii_text = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)
    return ascii_text if len(ascii_text) <= SUBJECT_MAX else ascii_text[: SUBJECT_MAX - 3] + "..."

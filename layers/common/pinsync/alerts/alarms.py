"""Alarm state changes of this stack's alarms (``<stack>-<purpose>``) → an alert in the words of its purpose, or a
recovery when the alarm returns to OK."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from pinsync.alerts.inbound import AlarmStateChangeEvent
from pinsync.alerts.model import RECONNECT, Alert, AlertContext, AlertType, Decision, Ignored, Recovery, Severity
from pinsync.alerts.text import alarm_url, dashboard_link, duration, latest, log_link, sentence

# Alarm name = "<stack name>-<purpose>" (template.yaml). The token alarms come with the rotation function.
ALARM_PURPOSES: dict[str, tuple[AlertType, Severity]] = {
    "dead-letter-queue": (AlertType.DEAD_LETTER_QUEUE, Severity.CRITICAL),
    "queue-delay": (AlertType.DATAFLOW_RUN_DELAYED, Severity.WARNING),
    "sync-errors": (AlertType.DATAFLOW_RUN_FAILED, Severity.CRITICAL),
    "access-token-expiry": (AlertType.TOKEN_EXPIRING, Severity.CRITICAL),
    "refresh-token-expiry": (AlertType.TOKEN_EXPIRING, Severity.CRITICAL),
    "token-rotation-failed": (AlertType.TOKEN_ROTATION_FAILED, Severity.WARNING),
    "lost-alerts": (AlertType.DATAFLOW_RUN_FAILED, Severity.WARNING),
    # The ingest door (IngestAuthentication) refused or failed requests: profiles the producer drops after retrying.
    "ingest-refused": (AlertType.DATAFLOW_RUN_FAILED, Severity.WARNING),
}

# Alarms on the alert function itself notify the alert topic straight from CloudWatch (template.yaml: AlarmActions):
# a failing function cannot be trusted to report its own failure, and a second, function-made alert would repeat it.
DIRECT_ALARM_PURPOSES = frozenset({"alert-function-errors", "alert-function-throttles"})

# The token rotation alarm shares its open alert with the other rotation failure signals (see classify).
TOKEN_ROTATION_KEY = "token_rotation_failed"  # noqa: S105 - a state key, not a credential


def classify_alarm(event: AlarmStateChangeEvent, ctx: AlertContext) -> Decision:
    detail = event.detail
    name = detail.alarm_name
    purpose = name.removeprefix(ctx.alarm_prefix)
    # The rule matches the "<stack>-" prefix, which the alarms of a stack named "<stack>-eu" share: only the purposes
    # of this template's alarms are this stack's.
    if name.startswith(ctx.alarm_prefix) and purpose in DIRECT_ALARM_PURPOSES:
        return Ignored("notified_directly")
    if not name.startswith(ctx.alarm_prefix) or purpose not in ALARM_PURPOSES:
        return Ignored("other_stack_alarm")
    key = TOKEN_ROTATION_KEY if purpose == "token-rotation-failed" else f"alarm:{name}"
    region = event.region
    links = (("Alarm", alarm_url(region, name)), *dashboard_link(region, ctx))
    state = detail.state.value
    previous = detail.previous_state.value if detail.previous_state else None
    if state == "OK":
        if previous != "ALARM":
            return Ignored("ok_without_alarm")
        return Recovery(key, name, sentence(detail.state.reason), detail.state.timestamp, links)
    if state != "ALARM":
        return Ignored("insufficient_data")
    alert_type, severity = ALARM_PURPOSES[purpose]
    newest = latest(detail.state.recent_datapoints())
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
    return render_alarm(base, name, newest, sentence(detail.state.reason), region, ctx)


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
        links=(*base.links, *log_link("Sync function logs", region, ctx.sync_log_group)),
    )


def _delay_alarm(base: Alert, name: str, latest: float | None, reason: str, region: str, ctx: AlertContext) -> Alert:
    age = duration(timedelta(seconds=latest)) if latest is not None else "too long"
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
        links=(*base.links, *log_link("Sync function logs", region, ctx.sync_log_group)),
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
        links=(*base.links, *log_link("Sync function logs", region, ctx.sync_log_group)),
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
        links=(*base.links, *log_link("Token rotation logs", region, ctx.rotation_log_group)),
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
        links=(*base.links, *log_link("Token rotation logs", region, ctx.rotation_log_group)),
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


def ingest_access_log_group(stack_name: str) -> str:
    """The door's access log group (template.yaml: IngestAccessLogGroup)."""
    return f"/aws/apigateway/{stack_name}/ingest-access"


def _ingest_refused_alarm(
    base: Alert, name: str, latest: float | None, reason: str, region: str, ctx: AlertContext
) -> Alert:
    count = f"{latest:.0f}" if latest is not None else "Some"
    log_group = ingest_access_log_group(ctx.stack_name)
    return replace(
        base,
        title=f'The ingest door of "{ctx.destination_name}" refused requests',
        what=(
            f"{count} request(s) to the ingest door were answered 4xx or 5xx in 5 minutes. Adobe Experience Platform "
            "retries a refused request twice, then drops it: those profiles did not reach the audience queue, and "
            f"the sync function's reports cannot count them. {reason}"
        ),
        next_step=(
            f"Read the door's access log ({log_group}), fields status and errorType: UNAUTHORIZED or ACCESS_DENIED "
            "means the producer's credentials no longer match (the secret IngestTokenSecretArn, or the Cognito "
            "client); THROTTLED means raise IngestRateLimit/IngestBurstLimit; BAD_REQUEST_BODY or REQUEST_TOO_LARGE "
            "means the producer sends bodies pinsync cannot take; a 5xx means the queue or the authorizer failed. "
            "Fix the cause, then re-export the affected audiences from Adobe Experience Platform."
        ),
        facts=(("Requests refused", count),),
        links=(*base.links, *log_link("Ingest door access log", region, log_group)),
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
    "ingest-refused": _ingest_refused_alarm,
}

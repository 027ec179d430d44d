"""Classifying an event into alerts, as pure functions: no boto3, no HTTP, no clock.

The alert flow (``pinsync.alerts.service``) parses the event (``pinsync.alerts.inbound``), calls :func:`classify`,
asks the state table whether each alert is already open (``pinsync.alerts.suppression``), then publishes what
``pinsync.alerts.render`` produced. Alarm state changes are classified in ``pinsync.alerts.alarms``; the pinsync events
(``Dataflow Run``, ``Token Rotation``) and Secrets Manager's rotation failures here; ``Audience Health`` reports in
``pinsync.alerts.health``.

Alert types (the SNS message attribute ``alert_type`` subscribers filter on):

==========================  ========================================================================================
``dataflow_run_failed``     a run could not send identities (``Dataflow Run`` failed > 0), or the sync function errors
``dataflow_run_delayed``    the oldest queued message is older than ``MaxMessageAgeSeconds`` (the seed's "delay")
``skipped_rate_exceeded``   a run's excluded share is above ``SkippedRateThreshold`` (the seed's only streaming alert)
``dead_letter_queue``       messages are waiting in the dead-letter queue
``token_expiring``          the access or refresh token has few days left
``token_rotation_failed``   a rotation step failed (``Token Rotation`` event, Secrets Manager, or the alarm)
``audience_too_small``      an audience stays under Pinterest's 100 minimum too long (``Audience Health``)
``audience_shrunk``         an audience lost more than a share of its size within a day (``Audience Health``)
``audience_missing``        an audience's customer list or Pinterest audience was deleted (``Audience Health``)
``recovered``               an alarm returned to OK, or a check no longer sees the problem, after an alert was sent
==========================  ========================================================================================

Messages carry counts, reasons, names and console links: never an identifier, a token or an account id.
"""

from __future__ import annotations

from pinsync.alerts.alarms import TOKEN_ROTATION_KEY, classify_alarm
from pinsync.alerts.health import classify_health
from pinsync.alerts.inbound import (
    AlarmStateChangeEvent,
    AlertEvent,
    AudienceHealthEvent,
    DataflowRunEvent,
    SecretsManagerRotationEvent,
    TokenRotationEvent,
)
from pinsync.alerts.model import RECONNECT, Alert, AlertContext, AlertType, Decision, Ignored, Severity
from pinsync.alerts.text import by_reason, dashboard_link, iso, log_link, percent, same_secret, secret_name, top
from pinsync.events import PINTEREST_EXCLUSION_PREFIX, ExclusionReason, FailureReason

# One open alert per problem, whichever signal reported it: a failed rotation arrives as a Token Rotation event, a
# Secrets Manager RotationFailed event and (within the hour) the token-rotation-failed alarm; a person gets one message.
DATAFLOW_RUN_FAILED_KEY = "dataflow_run_failed"
SKIPPED_RATE_KEY = "skipped_rate_exceeded"

_EXCLUSION_ADVICE: dict[str, str] = {
    ExclusionReason.NOT_ACTIVATED: "the audience is not activated (ActivatedAudiences, default none, or pinsync audiences activate): activate it, or stop sending it to the queue",
    ExclusionReason.INVALID_IDENTITY: "the CDP sends malformed identifiers: check the identity values its export maps",
    ExclusionReason.UNMAPPED_NAMESPACE: "profiles carry an identity namespace pinsync does not map: check the CDP's export mapping",
    ExclusionReason.UNKNOWN_STATUS: "profiles carry a segment status other than realized/existing/exited",
}
_FAILURE_ADVICE: dict[str, str] = {
    FailureReason.UNAUTHORIZED: f"Pinterest refused the token: check the latest Token Rotation event and {RECONNECT}",
    FailureReason.RATE_LIMITED: "Pinterest rate limits the account: lower the MaximumConcurrency parameter if this persists",
    FailureReason.PINTEREST_UNAVAILABLE: "Pinterest was unavailable: nothing to do if the next runs succeed",
    FailureReason.DEADLINE: "the function ran out of time: lower BatchSize or raise the function timeout",
    FailureReason.CREATION_IN_PROGRESS: "a customer list was still being created: this clears on the next delivery",
}


def classify(event: AlertEvent, ctx: AlertContext) -> list[Decision]:
    if isinstance(event, AlarmStateChangeEvent):
        return [classify_alarm(event, ctx)]
    if isinstance(event, DataflowRunEvent):
        return _classify_run(event, ctx)
    if isinstance(event, TokenRotationEvent):
        return [_classify_rotation(event, ctx)]
    if isinstance(event, AudienceHealthEvent):
        return classify_health(event, ctx)
    return [_classify_secret_rotation(event, ctx)]


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
    links = (*dashboard_link(region, ctx), *log_link("Sync function logs", region, ctx.sync_log_group))
    decisions: list[Decision] = []
    if ids.failed > 0:
        reasons = by_reason(ids.failed_by_reason)
        advice = [_FAILURE_ADVICE[r] for r in top(ids.failed_by_reason) if r in _FAILURE_ADVICE]
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
        leading = top(ids.excluded_by_reason)
        advice = [f"{r}: {_EXCLUSION_ADVICE[r]}" for r in leading if r in _EXCLUSION_ADVICE]
        if any(r.startswith(PINTEREST_EXCLUSION_PREFIX) for r in leading):
            advice.append("pinterest_error_*: Pinterest rejected the records (see the error code in the logs)")
        decisions.append(
            Alert(
                alert_type=AlertType.SKIPPED_RATE_EXCEEDED,
                severity=Severity.WARNING,
                key=SKIPPED_RATE_KEY,
                title=f'Skipped rate above {percent(ctx.skipped_rate_threshold)} for "{ctx.destination_name}"',
                what=(
                    f"A sync run excluded {ids.excluded} identities, {percent(run.excluded_share)} of those that "
                    f"reached a verdict (threshold {percent(ctx.skipped_rate_threshold)}): "
                    f"{by_reason(ids.excluded_by_reason)}. Excluded identities are never sent."
                ),
                next_step=("; ".join(advice) + ".")
                if advice
                else "Look at IdentitiesExcluded by reason on the dashboard.",
                occurred_at=event.time,
                facts=(*facts, ("Excluded share", percent(run.excluded_share))),
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
        facts.append(("Access token expires", iso(rotation.current.access_token_expires_at)))
        facts.append(("Refresh token expires", iso(rotation.current.refresh_token_expires_at)))
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
            *log_link("Token rotation logs", event.region, ctx.rotation_log_group),
            *dashboard_link(event.region, ctx),
        ),
    )


def _classify_secret_rotation(event: SecretsManagerRotationEvent, ctx: AlertContext) -> Decision:
    detail = event.detail
    secret = detail.additional_event_data.secret_id
    if ctx.token_secret_id and not same_secret(secret, ctx.token_secret_id):
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
        links=(*log_link("Token rotation logs", event.region, ctx.rotation_log_group),),
    )

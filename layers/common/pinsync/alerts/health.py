"""``Audience Health`` reports → per audience, an alert or the recovery of one, as pure functions.

Per audience of the report (keys ``audience_<problem>:<CDP audience id>``, so each audience's problem is open on its
own and a person gets one message per audience and problem within the suppression window):

- ``audience_missing``: the customer list or the Pinterest audience is gone (Pinterest answered 404);
- ``audience_too_small``: below Pinterest's minimum (100) more than ``AudienceTooSmallAfterHours`` after the first
  check that saw the audience mapped (its first add, near enough: the mapping keeps no creation time);
- ``audience_shrunk``: its size fell by more than ``AudienceShrinkThreshold`` (a share) since the last size known,
  read at most :data:`SHRINK_WINDOW` before.

A problem no longer seen is a :class:`Recovery` (``recovered`` when an alert was open). An audience Pinterest could not
be read this time decides nothing. The messages name the CDP audience, never a Pinterest id or an account id.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pinsync.alerts.inbound import AudienceHealthEvent
from pinsync.alerts.model import Alert, AlertContext, AlertType, Decision, Ignored, Recovery, Severity
from pinsync.alerts.text import dashboard_link, duration, iso, log_link, percent
from pinsync.events import AudienceHealthFacts, AudienceHealthState

# "within a day": the previous size counts when read at most this long before (a daily check runs a little late).
SHRINK_WINDOW = timedelta(hours=26)


def health_key(alert_type: AlertType, audience_id: str) -> str:
    return f"{alert_type.value}:{audience_id}"


def shrink_share(facts: AudienceHealthFacts) -> float:
    """The share of the last known size lost since (0 when it grew, or nothing to compare with)."""
    if facts.size is None or not facts.previous_size:
        return 0.0
    return max(0.0, (facts.previous_size - facts.size) / facts.previous_size)


def classify_health(event: AudienceHealthEvent, ctx: AlertContext) -> list[Decision]:
    report = event.detail
    if report.destination.name != ctx.destination_name:
        return [Ignored("other_destination")]
    links = (*dashboard_link(event.region, ctx), *log_link("Audience health logs", event.region, ctx.health_log_group))
    decisions: list[Decision] = []
    for facts in report.audiences:
        decisions += _audience(facts, report.checked_at, report.min_size, ctx, links)
    return decisions or [Ignored("no_audience")]


def _audience(
    facts: AudienceHealthFacts,
    checked_at: datetime,
    min_size: int,
    ctx: AlertContext,
    links: tuple[tuple[str, str], ...],
) -> list[Decision]:
    audience = facts.audience_id
    if facts.state is AudienceHealthState.UNREADABLE:
        return []
    subject = f'Audience "{audience}"'
    base_facts = (
        ("CDP audience", audience),
        ("Size", "n/a" if facts.size is None else str(facts.size)),
        ("Audience status", facts.audience_status or "n/a"),
        ("Customer list status", facts.customer_list_status or "n/a"),
        ("Records uploaded", "n/a" if facts.uploaded_records is None else str(facts.uploaded_records)),
    )

    def recovery(alert_type: AlertType, reason: str) -> Recovery:
        return Recovery(health_key(alert_type, audience), "", reason, checked_at, links, subject=subject)

    if facts.state is AudienceHealthState.MISSING:
        gone = " and ".join(part.replace("_", " ") for part in facts.missing) or "customer list"
        return [
            Alert(
                alert_type=AlertType.AUDIENCE_MISSING,
                severity=Severity.CRITICAL,
                key=health_key(AlertType.AUDIENCE_MISSING, audience),
                title=f'Pinterest {gone} of audience "{audience}" deleted ("{ctx.destination_name}")',
                what=(
                    f"Pinterest answers 404 for the {gone} that CDP audience {audience} syncs to: it was deleted on "
                    "Pinterest. Updates for this audience fail and are retried until they reach the dead-letter queue."
                ),
                next_step=(
                    f"Link the audience to a list again: `pinsync audiences activate {audience} --customer-list-id "
                    "<list id> --force` (an existing list), or remove its mapping so that pinsync creates a new one; "
                    "then backfill it with `pinsync send`, and redrive the dead-letter queue."
                ),
                occurred_at=checked_at,
                facts=(*base_facts, ("Missing", gone)),
                links=links,
            )
        ]
    decisions: list[Decision] = [recovery(AlertType.AUDIENCE_MISSING, "Pinterest has its customer list again.")]
    waited = checked_at - facts.first_seen_at
    allowed = timedelta(hours=ctx.audience_too_small_after_hours)
    if facts.state is AudienceHealthState.TOO_SMALL:
        if waited >= allowed:
            size = "fewer than" if facts.size is None else f"{facts.size}, under"
            decisions.append(
                Alert(
                    alert_type=AlertType.AUDIENCE_TOO_SMALL,
                    severity=Severity.WARNING,
                    key=health_key(AlertType.AUDIENCE_TOO_SMALL, audience),
                    title=f'Audience "{audience}" still too small on Pinterest ("{ctx.destination_name}")',
                    what=(
                        f"The Pinterest audience of CDP audience {audience} has {size} the {min_size} matched "
                        f"people Pinterest requires before it can be used, {duration(waited)} after pinsync first saw "
                        f"it (allowed: {duration(allowed)})."
                    ),
                    next_step=(
                        "Check that the CDP sends this audience's members (`pinsync audiences` shows the records "
                        "uploaded) and that their identifiers are ones Pinterest can match (hashed emails, mobile "
                        "advertising ids); a small audience may simply need more members."
                    ),
                    occurred_at=checked_at,
                    facts=(*base_facts, ("First seen", iso(facts.first_seen_at))),
                    links=links,
                )
            )
    else:
        decisions.append(recovery(AlertType.AUDIENCE_TOO_SMALL, f"It has reached Pinterest's minimum of {min_size}."))
    share = shrink_share(facts)
    since = facts.previous_checked_at
    if since is not None and checked_at - since <= SHRINK_WINDOW and share > ctx.audience_shrink_threshold:
        decisions.append(
            Alert(
                alert_type=AlertType.AUDIENCE_SHRUNK,
                severity=Severity.WARNING,
                key=health_key(AlertType.AUDIENCE_SHRUNK, audience),
                title=f'Audience "{audience}" shrank by {percent(share)} on Pinterest ("{ctx.destination_name}")',
                what=(
                    f"The Pinterest audience of CDP audience {audience} went from {facts.previous_size} to "
                    f"{facts.size} people since {iso(since)} (threshold "
                    f"{percent(ctx.audience_shrink_threshold)})."
                ),
                next_step=(
                    "Check whether the CDP exited many profiles on purpose (a changed segment definition), or sent "
                    "exits by mistake (a truncated export, a `pinsync reconcile` from an incomplete file); "
                    "`pinsync reconcile` with a full snapshot restores the members."
                ),
                occurred_at=checked_at,
                facts=(*base_facts, ("Previous size", str(facts.previous_size)), ("Lost", percent(share))),
                links=links,
            )
        )
    elif facts.size is not None:
        decisions.append(recovery(AlertType.AUDIENCE_SHRUNK, "Its size no longer drops beyond the threshold."))
    return decisions

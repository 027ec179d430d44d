"""Automatic redrive: when the cause of failures is gone, the dead-letter queue is redriven once, and said so.

"Gone" is a recovery of an alert about the dataflow failing or lagging (the sync errors or queue delay alarms back to
OK) or about the token (the rotation alarm back to OK): the updates that exhausted their retries during it can now
succeed. The dead-letter queue alarm's own recovery is not a trigger (a redrive is what clears it). At most one
redrive per window (the state table's open-alert record, as for suppression), and only the messages the contract
accepts move, each at most once: a poison message, or one that failed again after an automatic redrive (it carries
the redrive's mark), is never sent round again.
"""

from __future__ import annotations

from datetime import datetime

from pinsync.alerts.alarms import TOKEN_ROTATION_KEY
from pinsync.alerts.model import Alert, AlertContext, AlertType, RedriveCounts, Severity

REDRIVE_KEY = "auto_redrive"
_TRIGGER_PURPOSES = ("queue-delay", "sync-errors")


def triggers_redrive(key: str, ctx: AlertContext) -> bool:
    """Whether the recovery of the open alert ``key`` means the dead-lettered updates can now succeed."""
    return key == TOKEN_ROTATION_KEY or key in {f"alarm:{ctx.alarm_prefix}{purpose}" for purpose in _TRIGGER_PURPOSES}


def redriven_alert(counts: RedriveCounts, recovered_from: str, ctx: AlertContext, now: datetime) -> Alert:
    """The ``dead_letters_redriven`` message: how many moved, how many were left and why."""
    left = []
    if counts.left:
        left.append(f"{counts.left} that can never succeed (they break the message contract) stay there")
    if counts.already_redriven:
        left.append(
            f"{counts.already_redriven} failed again after an earlier automatic redrive and stay there for a person"
        )
    if counts.no_room_for_mark:
        left.append(
            f"{counts.no_room_for_mark} carry ten message attributes, which leaves no room for the redrive mark, and "
            "stay there for `pinsync redrive`"
        )
    if counts.failed:
        left.append(f"{counts.failed} could not be sent and stay there")
    if not counts.complete:
        left.append("more may be waiting (the time or the limit of one redrive ran out)")
    rest = ("; ".join(left) + ".") if left else "The dead-letter queue is empty."
    return Alert(
        alert_type=AlertType.DEAD_LETTERS_REDRIVEN,
        severity=Severity.INFO,
        key=REDRIVE_KEY,
        title=f'{counts.moved} dead-lettered update(s) redriven for "{ctx.destination_name}"',
        what=(
            f"The cause of the failures is gone ({recovered_from} recovered), so the dead-letter queue was redriven: "
            f"{counts.moved} message(s) went back to the audience queue. {rest}"
        ),
        next_step=(
            "Nothing to do if they go through. `pinsync redrive --dry-run` counts what is left and why."
            if left
            else "Nothing to do if they go through."
        ),
        occurred_at=now,
        facts=(
            ("Moved", str(counts.moved)),
            ("Left (poison)", str(counts.left)),
            ("Left (redriven before)", str(counts.already_redriven)),
            ("Left (no room for the mark)", str(counts.no_room_for_mark)),
            ("Not sent", str(counts.failed)),
        ),
    )

"""The alert flow for one event: parse → classify → suppression → notify, returning a small summary.

An event the function does not understand is logged with a reason and the failing field names only (never the
payload) and counted as ``AlertEventsUnrecognized``; it never raises. Failures to reach SNS or the state table do
raise, so Lambda's asynchronous retries (then the on-failure queue) get another go, and an alert whose publish
failed has its suppression window reopened first so the retry sends it (a recovery, its open alert put back).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pinsync.alerts.classify import classify
from pinsync.alerts.inbound import Unrecognized, parse_alert_event
from pinsync.alerts.model import Alert, AlertContext, AlertType, Ignored, OpenAlert, Recovery, Severity
from pinsync.alerts.ports import AlertState, DeadLetters, Notifier, WebhookPoster
from pinsync.alerts.redrive import REDRIVE_KEY, redriven_alert, triggers_redrive
from pinsync.alerts.render import render
from pinsync.alerts.suppression import is_suppressed, open_alert, recovered_alert
from pinsync.core.observability import MetricName, MetricsSink, MetricUnit, logger

_MAX_FIELD_DEPTH = 3  # field paths in logs stop before user-chosen keys (e.g. reason names in *_by_reason)


@dataclass
class AlertService:
    context: AlertContext
    window: timedelta
    state: AlertState
    notifier: Notifier
    webhook: WebhookPoster | None
    metrics: MetricsSink
    clock: Callable[[], datetime]
    dead_letters: DeadLetters | None = None  # None: no automatic redrive

    def handle(self, event: Any, time_left: Callable[[], float] = lambda: 20.0) -> dict[str, Any]:
        """Handle one event; ``time_left`` (seconds) bounds an automatic redrive."""
        parsed = parse_alert_event(event)
        if isinstance(parsed, Unrecognized):
            return self._unrecognized(parsed)
        now = self.clock()
        summary: Counter[str] = Counter()
        sent: list[str] = []
        for decision in classify(parsed, self.context):
            if isinstance(decision, Ignored):
                summary["ignored"] += 1
                logger.info("No alert for this event", extra={"reason": decision.reason})
            elif isinstance(decision, Recovery):
                opened = self.state.clear(decision.key)
                if opened is None:
                    summary["ignored"] += 1
                    logger.info("Recovered but no alert was open", extra={"alert_key": decision.key})
                    continue
                try:
                    self._send(recovered_alert(decision, opened, self.context))
                except Exception:
                    self.state.restore(opened)  # so that the retried event finds it open and sends the recovery
                    raise
                sent.append("recovered")
                if self._auto_redrive(decision, opened, now, time_left):
                    sent.append(AlertType.DEAD_LETTERS_REDRIVEN.value)
            else:
                record = open_alert(decision, now, self.window)
                if is_suppressed(self.state.get(decision.key), now) or not self.state.try_open(record, now):
                    summary["suppressed"] += 1
                    self.metrics.add_metric(MetricName.ALERTS_SUPPRESSED, MetricUnit.Count, 1)
                    logger.info("Alert suppressed (already open)", extra={"alert_key": decision.key})
                    continue
                try:
                    self._send(decision)
                except Exception:
                    self.state.reopen_window(decision.key)
                    raise
                sent.append(decision.alert_type.value)
        return {
            "recognized": True,
            "published": len(sent),
            "alert_types": sent,
            "suppressed": summary["suppressed"],
            "ignored": summary["ignored"],
        }

    def _auto_redrive(
        self, recovery: Recovery, opened: OpenAlert, now: datetime, time_left: Callable[[], float]
    ) -> bool:
        """Redrive the dead-letter queue once the cause of failures is gone (:mod:`pinsync.alerts.redrive`), at most
        once per window; True when it moved or found something (and said so). A failed redrive does not raise: the
        recovery was sent, and `pinsync redrive` remains. The guard's write and the notice's publish raise as any state
        write or publish does: the event then ends in the on-failure queue, which alarms."""
        if self.dead_letters is None or not triggers_redrive(recovery.key, self.context):
            return False
        guard = OpenAlert(
            key=REDRIVE_KEY,
            alert_type=AlertType.DEAD_LETTERS_REDRIVEN.value,
            severity=Severity.INFO.value,
            title="Automatic redrive",
            opened_at=now,
            suppress_until=now + self.window,
        )
        if not self.state.try_open(guard, now):
            logger.info("Automatic redrive skipped: one ran within the window")
            return False
        try:
            counts = self.dead_letters.redrive(time_left)
        except Exception as error:
            logger.warning(
                "Automatic redrive failed; `pinsync redrive` moves the messages by hand",
                extra={"error": type(error).__name__},
            )
            return False
        logger.info(
            "Dead-letter queue redriven",
            extra={
                "moved": counts.moved,
                "left": counts.left,
                "already_redriven": counts.already_redriven,
                "failed": counts.failed,
                "complete": counts.complete,
            },
        )
        if not (counts.moved or counts.left or counts.failed or counts.already_redriven):
            return False
        self._send(redriven_alert(counts, opened.alert_type, self.context, now))
        return True

    def _send(self, alert: Alert) -> None:
        rendered = render(alert, self.context)
        message_id = self.notifier.publish(rendered)
        self.metrics.add_metric(MetricName.ALERTS_PUBLISHED, MetricUnit.Count, 1)
        logger.info(
            "Alert published",
            extra={"alert_type": rendered.alert_type, "severity": rendered.severity, "message_id": message_id},
        )
        if self.webhook is not None:
            self.webhook.post(rendered)

    def _unrecognized(self, parsed: Unrecognized) -> dict[str, Any]:
        self.metrics.add_metric(MetricName.ALERT_EVENTS_UNRECOGNIZED, MetricUnit.Count, 1)
        fields = sorted({".".join(path.split(".")[:_MAX_FIELD_DEPTH]) for path in parsed.fields})
        logger.warning(
            "Event not recognised; no alert sent",
            extra={"reason": parsed.reason, "event_kind": parsed.kind, "problem_fields": fields},
        )
        return {"recognized": False, "reason": parsed.reason, "published": 0, "suppressed": 0, "ignored": 0}

"""Rendering an alert: the e-mail text (SNS subject and message) and the Slack-compatible webhook payload. Counts,
reasons, names and console links only: never an identifier, a token or an account id."""

from __future__ import annotations

from typing import Any

from pinsync.alerts.model import Alert, AlertContext, AlertType, RenderedAlert, Severity
from pinsync.alerts.text import iso, subject


def render(alert: Alert, ctx: AlertContext) -> RenderedAlert:
    severity = alert.severity.value.upper()
    title = subject(f"[pinsync {severity}] {alert.title}")
    lines = [
        f"{severity}: {alert.title}",
        "",
        f"What happened: {alert.what}",
        "",
        f"Destination: {ctx.destination_name} (stack {ctx.stack_name})",
        f"When: {iso(alert.occurred_at)}",
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
        subject=title,
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

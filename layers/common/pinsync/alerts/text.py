"""Console links and the small formatting helpers every alert message shares."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import quote

from pinsync.events import iso_utc as iso

if TYPE_CHECKING:
    from pinsync.alerts.model import AlertContext

__all__ = ["iso"]

SUBJECT_MAX = 100  # SNS Subject limit


def console(region: str) -> str:
    return f"https://{region}.console.aws.amazon.com"


def alarm_url(region: str, alarm_name: str) -> str:
    return f"{console(region)}/cloudwatch/home?region={region}#alarmsV2:alarm/{quote(alarm_name, safe='')}"


def log_group_url(region: str, log_group: str) -> str:
    # The console's fragment encoding: "/" -> %2F -> %252F -> $252F.
    encoded = quote(quote(log_group, safe=""), safe="").replace("%", "$")
    return f"{console(region)}/cloudwatch/home?region={region}#logsV2:log-groups/log-group/{encoded}"


def dashboard_url(region: str, dashboard_name: str) -> str:
    return f"{console(region)}/cloudwatch/home?region={region}#dashboards/dashboard/{quote(dashboard_name, safe='')}"


def log_link(label: str, region: str, log_group: str) -> tuple[tuple[str, str], ...]:
    return ((label, log_group_url(region, log_group)),) if log_group else ()


def dashboard_link(region: str, ctx: AlertContext) -> tuple[tuple[str, str], ...]:
    return (("Dashboard", dashboard_url(region, ctx.dashboard_name)),) if ctx.dashboard_name else ()


def secret_name(secret_id: str) -> str:
    """The name part of a secret ARN without Secrets Manager's 6-character suffix (no account id in messages)."""
    match = re.match(r"^arn:[^:]+:secretsmanager:[^:]*:[^:]*:secret:(.+?)(-[A-Za-z0-9]{6})?$", secret_id)
    return match.group(1) if match else secret_id


def same_secret(reported: str, configured: str) -> bool:
    return reported == configured or secret_name(reported) == secret_name(configured)


def latest(points: list[float]) -> float | None:
    return points[0] if points else None  # CloudWatch lists the most recent datapoint first


def top(counts: Mapping[str, int], n: int = 3) -> list[str]:
    return [reason for reason, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:n]]


def by_reason(counts: Mapping[str, int]) -> str:
    if not counts:
        return "no reason recorded"
    return ", ".join(f"{reason} {counts[reason]}" for reason in top(counts, n=len(counts)))


def percent(share: float) -> str:
    return f"{share * 100:.2f}".rstrip("0").rstrip(".") + "%"


def duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172_800:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} days"


def sentence(text: str) -> str:
    text = " ".join(text.split())
    return f"CloudWatch: {text}" if text else ""


def subject(text: str) -> str:
    # SNS subjects: printable ASCII, no line breaks, at most 100 characters.
    ascii_text = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)
    return ascii_text if len(ascii_text) <= SUBJECT_MAX else ascii_text[: SUBJECT_MAX - 3] + "..."

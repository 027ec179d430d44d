"""`pinsync status`: one screen about a deployment.

- destination: Name, Description and Ad account (stack parameters/outputs, or flags / environment)
- token: expiry dates, days left, last and next rotation (the token secret; values are never printed)
- queue: messages waiting, in flight (being processed, or hidden for their retry backoff) and delayed; age of the
  oldest message (CloudWatch `ApproximateAgeOfOldestMessage`, n/a where CloudWatch has no datapoint, e.g. locally)
  and, from it, how long it may wait for its next retry if it is failing
- dead-letter queue: messages waiting (redrive them with `pinsync redrive`)
- last dataflow run: the counts of the latest `Dataflow run` line in the sync function's log group (n/a when
  there is no log group to read, e.g. locally)
- audience health: the latest health check of each audience (the state table's HEALTH items): ok, too_small,
  missing or unreadable, its size on Pinterest and when it was checked

Each part is read independently; one that cannot be read says why. Exit codes: 0 every part read; 2 usage error;
4 some part could not be read because of an AWS error (the rest is still shown).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError
from pinsync.adapters.dynamo_health import DynamoHealthStore
from pinsync.adapters.secretsmanager_versions import SecretsManagerVersions
from pinsync.core.errors import SecretStoreError
from pinsync.sync.retry_schedule import RetrySchedule
from pinsync.sync.settings import SyncSettings

from pinsync_cli import health
from pinsync_cli.stack import EXIT_AWS, EXIT_OK, Deployment, add_target_arguments, aws_code, resolve
from pinsync_cli.token_status import token_rows, token_status

# Narrow first: the search returns events oldest first, at most MAX_LOG_PAGES pages are read, and on a busy log
# group a wide window would stop before it reaches the newest run.
LOG_WINDOWS = (timedelta(minutes=2), timedelta(minutes=15), timedelta(hours=6), timedelta(days=7))
MAX_LOG_PAGES = 20
# The sync function's retry backoff as the template deploys it (base and cap are not template parameters).
RETRY_SCHEDULE = RetrySchedule(
    SyncSettings.model_fields["retry_base_seconds"].default, SyncSettings.model_fields["retry_cap_seconds"].default
)


def register(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "status",
        help="destination, token expiry, queue and dead-letter depth, last dataflow run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="print JSON (for scripts)")
    add_target_arguments(
        parser,
        "queue_url",
        "dead_letter_queue_url",
        "secret_id",
        "function_name",
        "log_group",
        "destination_name",
        "destination_description",
        "ad_account_id",
        "table",
    )
    parser.set_defaults(func=run)
    return parser


Row = tuple[str, str, str]


class PartError(Exception):
    """One part of the screen could not be read because of AWS; the message is safe to print."""


@dataclass
class Section:
    title: str
    rows: list[Row] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Screen:
    sections: list[Section] = field(default_factory=list)
    aws_errors: int = 0

    def part(self, title: str, read: Callable[[Section], None]) -> None:
        section = Section(title)
        try:
            read(section)
        except PartError as error:
            self.aws_errors += 1
            section.rows.append(("error", "n/a", str(error)))
            section.data["error"] = str(error)
        except (ClientError, BotoCoreError) as error:
            self.aws_errors += 1
            reason = aws_code(error) if isinstance(error, ClientError) else type(error).__name__
            section.rows.append(("error", "n/a", f"AWS error: {reason}"))
            section.data["error"] = reason
        self.sections.append(section)


def run(args: argparse.Namespace, *, out: TextIO | None = None, now: datetime | None = None) -> int:
    out = out or sys.stdout
    now = now or datetime.now(UTC)
    deployment = resolve(args)
    screen = Screen()
    screen.part("destination", lambda section: _destination(deployment, section))
    screen.part("token", lambda section: _token(deployment, section, now))
    screen.part("queue", lambda section: _queue(deployment, section, now, dead_letter=False))
    screen.part("dead-letter queue", lambda section: _queue(deployment, section, now, dead_letter=True))
    screen.part("last dataflow run", lambda section: _last_run(deployment, section, now))
    screen.part("audience health", lambda section: _audience_health(deployment, section))
    if args.json:
        print(json.dumps({section.title: section.data for section in screen.sections}, indent=2), file=out)
    else:
        _render(screen, out)
    return EXIT_AWS if screen.aws_errors else EXIT_OK


# -- parts ----------------------------------------------------------------------------------------------------------


def _destination(deployment: Deployment, section: Section) -> None:
    description = deployment.get("destination_description")
    function_name = deployment.get("function_name")
    if description is None and function_name:
        try:
            configuration = deployment.client("lambda").get_function_configuration(FunctionName=function_name)
            description = configuration.get("Description") or None
        except (ClientError, BotoCoreError):
            description = None  # the description is a nicety: its absence is no reason to fail the section
    values = {
        "name": deployment.get("destination_name"),
        "description": description,
        "ad_account_id": deployment.get("ad_account_id"),
    }
    section.data.update(values)
    section.rows += [
        ("name", values["name"] or "n/a", "" if values["name"] else "give --destination-name or --stack-name"),
        ("description", values["description"] or "-", ""),
        ("ad account", values["ad_account_id"] or "n/a", "" if values["ad_account_id"] else "give --ad-account-id"),
    ]


def _token(deployment: Deployment, section: Section, now: datetime) -> None:
    """The token part comes from `pinsync_cli.token_status`, which owns its rows."""
    secret_id = deployment.get("secret_id")
    if not secret_id:
        section.rows.append(("token", "n/a", "give --secret-id or --stack-name"))
        section.data["error"] = "no secret id"
        return
    try:
        status = token_status(SecretsManagerVersions(deployment.client("secretsmanager")), secret_id, now)
    except SecretStoreError as error:
        raise PartError(f"cannot read the token secret ({error})") from None
    section.rows += token_rows(status)
    section.data.update(status.as_json())


def _queue(deployment: Deployment, section: Section, now: datetime, *, dead_letter: bool) -> None:
    attribute = "dead_letter_queue_url" if dead_letter else "queue_url"
    url = deployment.get(attribute)
    if not url:
        section.rows.append(("queue", "n/a", "give --dlq-url" if dead_letter else "give --queue-url"))
        section.data["error"] = "no queue url"
        return
    attributes = deployment.client("sqs").get_queue_attributes(
        QueueUrl=url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    waiting = int(attributes.get("ApproximateNumberOfMessages", 0))
    in_flight = int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0))
    delayed = int(attributes.get("ApproximateNumberOfMessagesDelayed", 0))
    name = url.rstrip("/").rsplit("/", 1)[-1]
    section.data.update({"url": url, "waiting": waiting, "in_flight": in_flight, "delayed": delayed})
    if dead_letter:
        hint = "redrive with `pinsync redrive` once the cause is fixed" if waiting + in_flight else ""
        section.rows.append(("messages", str(waiting + in_flight), hint))
    else:
        section.rows.append(("messages", f"{waiting} waiting, {in_flight} in flight, {delayed} delayed", name))
    age, why = _oldest_age(deployment, name, now)
    section.data["oldest_message_age_seconds"] = age
    section.rows.append(("oldest message", "n/a" if age is None else _age(age), why or "CloudWatch, last 15 min"))
    if not dead_letter and age is not None:
        within = RETRY_SCHEDULE.next_retry_within(age)
        section.data["next_retry_within_seconds"] = within
        section.rows.append(
            ("next retry", f"within {_age(within)}", "of the oldest message, if it is failing (backoff per delivery)")
        )


def _oldest_age(deployment: Deployment, queue_name: str, now: datetime) -> tuple[float | None, str | None]:
    try:
        datapoints = (
            deployment.client("cloudwatch", max_attempts=2)
            .get_metric_statistics(
                Namespace="AWS/SQS",
                MetricName="ApproximateAgeOfOldestMessage",
                Dimensions=[{"Name": "QueueName", "Value": queue_name}],
                StartTime=now - timedelta(minutes=15),
                EndTime=now,
                Period=60,
                Statistics=["Maximum"],
            )
            .get("Datapoints", [])
        )
    except (ClientError, BotoCoreError) as error:
        reason = aws_code(error) if isinstance(error, ClientError) else type(error).__name__
        return None, f"CloudWatch not reachable ({reason})"
    if not datapoints:
        return None, "no CloudWatch datapoint (local stack, or an idle queue)"
    latest = max(datapoints, key=lambda point: point["Timestamp"])
    return float(latest["Maximum"]), None


def _last_run(deployment: Deployment, section: Section, now: datetime) -> None:
    log_group = deployment.get("log_group") or _function_log_group(deployment)
    if not log_group:
        section.rows.append(("run", "n/a", "no log group to read (give --log-group or --stack-name)"))
        section.data["error"] = "no log group"
        return
    logs = deployment.client("logs")
    try:
        found = latest_run(logs, log_group, now)
    except ClientError as error:
        if aws_code(error) == "ResourceNotFoundException":
            section.rows.append(("run", "n/a", f"log group {log_group} not found"))
            section.data["error"] = "log group not found"
            return
        raise
    if found is None:
        section.rows.append(("run", "n/a", f"no `Dataflow run` line in {log_group} in the last 7 days"))
        section.data["error"] = "no run found"
        return
    at, run = found
    section.data.update({"at": at.isoformat(), "run": run})
    messages = run.get("messages", {})
    identities = run.get("identities", {})
    section.rows += [
        ("at", at.strftime("%Y-%m-%d %H:%M:%S UTC"), f"{_age((now - at).total_seconds())} ago"),
        (
            "messages",
            f"{messages.get('received', '?')} received, {messages.get('rejected', '?')} rejected, "
            f"{messages.get('retried', '?')} retried",
            _reasons(messages.get("rejected_by_reason")),
        ),
        ("profiles", str(run.get("profiles_received", "?")), ""),
        (
            "identities",
            f"{identities.get('added', '?')} added, {identities.get('removed', '?')} removed, "
            f"{identities.get('excluded', '?')} excluded, {identities.get('skipped', '?')} skipped, "
            f"{identities.get('failed', '?')} failed",
            _reasons({**identities.get("excluded_by_reason", {}), **identities.get("failed_by_reason", {})}),
        ),
    ]


# More audiences than this: the others are counted, and `pinsync audiences` lists them all.
HEALTH_ROWS = 20


def _audience_health(deployment: Deployment, section: Section) -> None:
    table = deployment.get("table")
    if not table:
        section.rows.append(("audiences", "n/a", "give --table or --stack-name"))
        section.data["error"] = "no table"
        return
    records = DynamoHealthStore(deployment.client("dynamodb"), table).all_records()
    section.data["audiences"] = {record.audience_id: health.as_json(record) for record in records}
    if not records:
        section.rows.append(("audiences", "n/a", "no health check yet (the AudienceHealthFunction runs daily)"))
        return
    states: dict[str, int] = {}
    for record in records:
        states[record.state.value] = states.get(record.state.value, 0) + 1
    latest = max(record.checked_at for record in records)
    counts = ", ".join(f"{count} {state}" for state, count in sorted(states.items()))
    section.rows.append(("audiences", f"{len(records)} checked: {counts}", f"latest check {health.when(latest)}"))
    # the unhealthy first, then by id
    ordered = sorted(records, key=lambda r: (r.state.value == "ok", r.audience_id))
    for record in ordered[:HEALTH_ROWS]:
        section.rows.append((record.audience_id, health.summary(record), health.note(record)))
    if len(records) > HEALTH_ROWS:
        section.rows.append(("...", f"{len(records) - HEALTH_ROWS} more", "`pinsync audiences` lists them all"))


def _function_log_group(deployment: Deployment) -> str | None:
    function_name = deployment.get("function_name")
    if not function_name:
        return None
    configuration = deployment.client("lambda").get_function_configuration(FunctionName=function_name)
    group = configuration.get("LoggingConfig", {}).get("LogGroup")
    return str(group) if group else f"/aws/lambda/{function_name}"


def latest_run(logs: Any, log_group: str, now: datetime) -> tuple[datetime, dict[str, Any]] | None:
    """The latest `Dataflow run` log line: widening windows, newest match wins."""
    end = int(now.timestamp() * 1000)
    for window in LOG_WINDOWS:
        request: dict[str, Any] = {
            "logGroupName": log_group,
            "filterPattern": '"Dataflow run"',
            "startTime": end - int(window.total_seconds() * 1000),
            "endTime": end,
        }
        best: tuple[int, dict[str, Any]] | None = None
        for _ in range(MAX_LOG_PAGES):
            page = logs.filter_log_events(**request)
            for event in page.get("events", []):
                run = _run_detail(str(event.get("message", "")))
                if run is not None and (best is None or event["timestamp"] >= best[0]):
                    best = (int(event["timestamp"]), run)
            token = page.get("nextToken")
            if not token:
                break
            request["nextToken"] = token
        if best is not None:
            return datetime.fromtimestamp(best[0] / 1000, UTC), best[1]
    return None


def _run_detail(message: str) -> dict[str, Any] | None:
    """The `run` of a powertools JSON line (Lambda's JSON log format may wrap it in `message`)."""
    try:
        document = json.loads(message[message.index("{") :])
    except ValueError:
        return None
    for candidate in (document, document.get("message") if isinstance(document, dict) else None):
        if isinstance(candidate, str):
            try:
                candidate = json.loads(candidate)
            except ValueError:
                continue
        if isinstance(candidate, dict) and isinstance(candidate.get("run"), dict):
            run: dict[str, Any] = candidate["run"]
            return run
    return None


# -- rendering ------------------------------------------------------------------------------------------------------


def _render(screen: Screen, out: TextIO) -> None:
    rows = [row for section in screen.sections for row in section.rows]
    width = max((len(row[0]) for row in rows), default=10)
    value_width = min(max((len(row[1]) for row in rows), default=10), 60)
    for section in screen.sections:
        print(section.title.upper(), file=out)
        for item, value, detail in section.rows:
            print(f"  {item:<{width}}  {value:<{value_width}}  {detail}".rstrip(), file=out)


def _age(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _reasons(counts: dict[str, int] | None) -> str:
    if not counts:
        return ""
    return ", ".join(f"{reason} {count}" for reason, count in sorted(counts.items()))

"""`pinsync status`: one screen, every part read independently and honest about what it cannot read."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.builders import FakeContext, body, profile
from tests.cli.conftest import process

RUN = {
    "destination": {"name": "pinsync", "ad_account_id": "549755885175"},
    "messages": {"received": 9, "rejected": 1, "rejected_by_reason": {"invalid_json": 1}, "retried": 0},
    "profiles_received": 9,
    "identities": {
        "activated": 7,
        "added": 7,
        "removed": 0,
        "excluded": 2,
        "excluded_by_reason": {"invalid_identity": 2},
        "skipped": 0,
        "skipped_by_reason": {},
        "failed": 0,
        "failed_by_reason": {},
    },
}


def test_the_local_stack_on_one_screen(stack, run_cli):
    sqs = stack.client("sqs")
    sqs.send_message(QueueUrl=stack.queue_url, MessageBody="{not json")
    process(stack)
    for _ in range(3):
        sqs.send_message(
            QueueUrl=stack.queue_url, MessageBody=body(profile({"seg": "realized"}, email="a@example.com"))
        )

    result = run_cli("status")

    assert result.code == 0, result.err
    out = result.out
    assert [line for line in out.splitlines() if not line.startswith(" ")] == [
        "DESTINATION",
        "TOKEN",
        "QUEUE",
        "DEAD-LETTER QUEUE",
        "LAST DATAFLOW RUN",
        "AUDIENCE HEALTH",
    ]
    assert "pinsync local" in out and "549755885175" in out
    assert "access token expires" in out and "days left" in out  # from token_status
    assert "3 waiting, 0 in flight, 0 delayed" in out
    assert "no CloudWatch datapoint" in out
    dead = out.split("DEAD-LETTER QUEUE")[1]
    assert "messages" in dead and " 1 " in dead and "pinsync redrive" in dead
    assert "no log group to read" in out
    assert "pina_" not in out and "pinr_" not in out

    document = json.loads(run_cli("status", "--json").out)
    assert document["queue"]["waiting"] == 3
    assert document["dead-letter queue"]["waiting"] == 1
    assert document["token"]["connected"] is True
    assert document["destination"]["name"] == "pinsync local"
    assert document["last dataflow run"]["error"] == "no log group"


def test_the_last_dataflow_run_comes_from_the_function_log_group(stack, run_cli):
    logs = stack.client("logs")
    logs.create_log_group(logGroupName="/aws/lambda/pinsync/audience-sync")
    logs.create_log_stream(logGroupName="/aws/lambda/pinsync/audience-sync", logStreamName="s")
    now = int(time.time() * 1000)
    older = {**RUN, "profiles_received": 1}
    logs.put_log_events(
        logGroupName="/aws/lambda/pinsync/audience-sync",
        logStreamName="s",
        logEvents=[
            {"timestamp": now - 60_000, "message": json.dumps({"message": "Dataflow run", "run": older})},
            {
                "timestamp": now - 30_000,
                "message": json.dumps({"level": "INFO", "message": "Dataflow run", "run": RUN}),
            },
            {"timestamp": now - 10_000, "message": json.dumps({"message": "Customer list ready"})},
        ],
    )

    result = run_cli("status", "--log-group", "/aws/lambda/pinsync/audience-sync")

    assert result.code == 0, result.err
    run = result.out.split("LAST DATAFLOW RUN")[1]
    assert "9 received, 1 rejected, 0 retried" in run and "invalid_json 1" in run
    assert "7 added, 0 removed, 2 excluded, 0 skipped, 0 failed" in run and "invalid_identity 2" in run
    assert " s ago" in run

    missing = run_cli("status", "--log-group", "/aws/lambda/nothing-here")
    assert "log group /aws/lambda/nothing-here not found" in missing.out


def test_flags_override_and_aws_errors_are_exit_4(stack, run_cli, monkeypatch):
    result = run_cli(
        "status",
        "--destination-name",
        "Retail EU",
        "--destination-description",
        "CDP to Pinterest, EU",
        "--ad-account-id",
        "123",
    )
    assert "Retail EU" in result.out and "CDP to Pinterest, EU" in result.out and " 123" in result.out

    monkeypatch.delenv("TOKEN_SECRET_ID")
    monkeypatch.delenv("PINSYNC_QUEUE_URL")
    partial = run_cli("status")
    assert partial.code == 0
    assert "give --secret-id or --stack-name" in partial.out
    assert "give --queue-url" in partial.out

    broken = run_cli("status", "--queue-url", stack.queue_url + "-gone", "--secret-id", "no-such-secret")
    assert broken.code == 4
    assert "AWS error" in broken.out
    assert "cannot read the token secret" in broken.out


class BusyLogs:
    """FilterLogEvents over many `Dataflow run` lines, oldest first, a few per page (as CloudWatch Logs pages)."""

    def __init__(self, timestamps: list[int]) -> None:
        self.timestamps = sorted(timestamps)

    def filter_log_events(self, **request):
        inside = [t for t in self.timestamps if request["startTime"] <= t <= request["endTime"]]
        start = int(request.get("nextToken", 0))
        page = inside[start : start + 10]
        line = '{"message": "Dataflow run", "run": {"at": %d}}'
        answer: dict[str, Any] = {"events": [{"timestamp": t, "message": line % t} for t in page]}
        if start + 10 < len(inside):
            answer["nextToken"] = str(start + 10)
        return answer


def test_the_last_run_of_a_busy_log_group_is_the_newest():
    from datetime import UTC, datetime

    from pinsync_cli.status import latest_run

    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    end = int(now.timestamp() * 1000)
    runs = [end - 600_000 + i * 1_000 for i in range(600)]  # a run a second for 10 minutes: 60 pages of 10
    found = latest_run(BusyLogs(runs), "/aws/lambda/sync", now)
    assert found is not None and found[1] == {"at": runs[-1]}


def test_audience_health_shows_the_latest_check_unhealthy_first(stack, run_cli):
    assert "no health check yet" in run_cli("status").out
    sqs = stack.client("sqs")
    members = [profile({"big": "realized"}, email=f"b{i}@example.com") for i in range(100)]
    sqs.send_message(QueueUrl=stack.queue_url, MessageBody=body(*members))
    sqs.send_message(QueueUrl=stack.queue_url, MessageBody=body(profile({"small": "realized"}, email="s@example.com")))
    process(stack)
    stack.health_handler()({}, FakeContext())

    result = run_cli("status")

    assert result.code == 0, result.err
    part = result.out.split("AUDIENCE HEALTH")[1]
    lines = [line.split() for line in part.splitlines() if line.strip()]
    assert lines[0][:5] == ["audiences", "2", "checked:", "1", "ok,"]
    assert [line[0] for line in lines[1:]] == ["small", "big"]  # the unhealthy first
    assert "too_small, size 1, checked" in part and "under Pinterest's 100 minimum" in part
    assert "ok, size 100, checked" in part
    document = json.loads(run_cli("status", "--json").out)["audience health"]
    assert document["audiences"]["small"]["state"] == "too_small"
    assert document["audiences"]["big"]["size"] == 100


def test_the_oldest_message_and_how_long_it_may_wait_for_its_next_retry(stack, run_cli):
    # CloudWatch's ApproximateAgeOfOldestMessage (moto keeps what is put): an hour-old message
    queue_name = stack.queue_url.rstrip("/").rsplit("/", 1)[-1]
    stack.client("cloudwatch").put_metric_data(
        Namespace="AWS/SQS",
        MetricData=[
            {
                "MetricName": "ApproximateAgeOfOldestMessage",
                "Dimensions": [{"Name": "QueueName", "Value": queue_name}],
                "Value": 3600.0,
                "Unit": "Seconds",
                "Timestamp": datetime.now(UTC) - timedelta(minutes=2),
            }
        ],
    )

    result = run_cli("status")
    queue = result.out.split("QUEUE")[1].split("DEAD-LETTER QUEUE")[0]

    assert "oldest message" in queue and "60 min" in queue
    # after an hour of failures a message has had at most 7 deliveries: the 7th waits up to 64 minutes
    assert "next retry" in queue and "within 64 min" in queue
    assert json.loads(run_cli("status", "--json").out)["queue"]["next_retry_within_seconds"] == 3840

"""The alert handler with moto in-process: SNS topic → SQS queue (RawMessageDelivery false) to read exactly what was
published, the state table for suppression, and ``responses`` for the optional webhook."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import boto3
import pytest
import responses
from aws_lambda_powertools.logging import correlation_paths
from local_stack.handlers import Handler
from local_stack.stack import create_state_table
from moto import mock_aws
from pinsync.alerts.classify import classify
from pinsync.alerts.inbound import parse_alert_event
from pinsync.alerts.model import Alert
from pinsync.alerts.render import render
from pinsync.alerts.runtime import AlertClients, AlertRuntime, build_runtime
from pinsync.alerts.settings import AlertSettings
from pinsync.core.observability import instrumented

from tests.builders import FakeContext
from tests.integration.conftest import fake_aws_environment, received_json

REGION = "us-east-1"
TABLE = "pinsync-state"
SAMPLES = Path(__file__).resolve().parents[2] / "events" / "alerts"
WEBHOOK_URL = "https://hooks.example.com/services/T000/B000/XXXX"

# sample -> [(alert_type, severity, subject)] it publishes
EXPECTED = {
    "alarm-dead-letter-queue.json": [
        ("dead_letter_queue", "critical", '[pinsync CRITICAL] Messages in the dead-letter queue of "pinsync"')
    ],
    "alarm-queue-delay.json": [
        ("dataflow_run_delayed", "warning", '[pinsync WARNING] Audience updates for "pinsync" are delayed')
    ],
    "alarm-sync-errors.json": [
        ("dataflow_run_failed", "critical", '[pinsync CRITICAL] The sync function of "pinsync" is failing')
    ],
    "alarm-access-token-expiry.json": [
        ("token_expiring", "critical", '[pinsync CRITICAL] The Pinterest access token of "pinsync" expires soon')
    ],
    "alarm-refresh-token-expiry.json": [
        ("token_expiring", "critical", '[pinsync CRITICAL] The Pinterest refresh token of "pinsync" expires soon')
    ],
    "alarm-token-rotation-failed.json": [
        ("token_rotation_failed", "warning", '[pinsync WARNING] Pinterest token rotation failed for "pinsync"')
    ],
    "alarm-ingest-refused.json": [
        ("dataflow_run_failed", "warning", '[pinsync WARNING] The ingest door of "pinsync" refused requests')
    ],
    "dataflow-run-failed.json": [
        ("dataflow_run_failed", "warning", '[pinsync WARNING] Identities failed to reach Pinterest for "pinsync"')
    ],
    "dataflow-run-skipped-rate.json": [
        ("skipped_rate_exceeded", "warning", '[pinsync WARNING] Skipped rate above 1% for "pinsync"')
    ],
    "token-rotation-failed.json": [
        ("token_rotation_failed", "critical", '[pinsync CRITICAL] Pinterest token rotation failed for "pinsync"')
    ],
    "secretsmanager-rotation-failed.json": [
        ("token_rotation_failed", "warning", '[pinsync WARNING] Pinterest token rotation failed for "pinsync"')
    ],
    "secretsmanager-rotation-abandoned.json": [
        ("token_rotation_failed", "warning", '[pinsync WARNING] Pinterest token rotation abandoned for "pinsync"')
    ],
}


def sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return loaded


@dataclass
class AlertStack:
    """The alert function as Lambda runs it (decorators included) on moto, with a clock the test sets."""

    topic_arn: str
    queue_url: str
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    runtime: AlertRuntime = field(init=False)
    handler: Handler = field(init=False)

    def __post_init__(self) -> None:
        self.configure()

    def settings(self, **overrides: Any) -> AlertSettings:
        """The alert function's settings, as template.yaml sets them."""
        values: dict[str, Any] = {
            "alert_topic_arn": self.topic_arn,
            "state_table_name": TABLE,
            "destination_name": "pinsync",
            "stack_name": "pinsync",
            "skipped_rate_threshold": 0.01,
            "suppression_minutes": 60,
            "alert_webhook_secret_id": "",
            "sync_log_group": "/aws/lambda/pinsync/audience-sync",
            "rotation_log_group": "/aws/lambda/pinsync/token-rotation",
            "dashboard_name": "pinsync-dataflow",
            "dead_letter_queue_name": "pinsync-AudienceDeadLetterQueue-AbCdEf123456",
            "token_secret_id": "arn:aws:secretsmanager:us-east-1:123456789012:secret:TokenSecret-Xy12AbCd34Ef-a1B2c3",
        }
        return AlertSettings.of(**(values | overrides))

    def configure(self, **overrides: Any) -> AlertRuntime:
        """(Re)build the function with these settings, as a new cold start would."""
        self.runtime = build_runtime(self.settings(**overrides), AlertClients.create(), clock=lambda: self.now)
        self.handler = instrumented(correlation_id_path=correlation_paths.EVENT_BRIDGE)(self.runtime.handle)
        return self.runtime

    def invoke(self, event: Any) -> dict[str, Any]:
        return self.handler(event, FakeContext())

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION)

    def published(self) -> list[dict[str, Any]]:
        """SNS notifications delivered to the subscribed queue (the JSON envelope, as email/HTTP get them)."""
        return received_json(self.client("sqs"), self.queue_url)

    def open_alerts(self) -> list[dict[str, Any]]:
        items = self.client("dynamodb").scan(TableName=TABLE)["Items"]
        return [item for item in items if item["pk"]["S"].startswith("ALERT#")]


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[AlertStack]:
    fake_aws_environment(monkeypatch)
    with mock_aws():
        create_state_table(boto3.client("dynamodb", region_name=REGION), TABLE)
        sns = boto3.client("sns", region_name=REGION)
        topic_arn = sns.create_topic(Name="pinsync-alerts", Attributes={"KmsMasterKeyId": "alias/aws/sns"})["TopicArn"]
        sqs = boto3.client("sqs", region_name=REGION)
        queue_url = sqs.create_queue(QueueName="alert-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(
            TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "false"}
        )
        yield AlertStack(topic_arn=topic_arn, queue_url=queue_url)


def attributes(notification: dict[str, Any]) -> dict[str, str]:
    return {name: value["Value"] for name, value in notification["MessageAttributes"].items()}


def expected_text(stack: AlertStack, event: dict[str, Any]) -> list[str]:
    context = stack.runtime.service.context
    parsed = parse_alert_event(event)
    assert not isinstance(parsed, type(None))
    return [
        render(d, context).text
        for d in classify(parsed, context)  # type: ignore[arg-type]
        if isinstance(d, Alert)
    ]


# -- each sample → exactly its message ----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "expected"), EXPECTED.items())
def test_sample_publishes_exactly_its_alert(name: str, expected: list[tuple[str, str, str]], stack: AlertStack) -> None:
    # Given a sample event
    event = sample(name)

    # When the alert function handles it
    summary = stack.invoke(event)

    # Then exactly the expected messages are on the topic, with filterable attributes
    published = stack.published()
    assert [(attributes(n)["alert_type"], attributes(n)["severity"], n["Subject"]) for n in published] == expected
    assert [n["Message"] for n in published] == expected_text(stack, event)
    assert all(n["TopicArn"] == stack.topic_arn for n in published)
    assert all(set(n["MessageAttributes"]) == {"alert_type", "severity"} for n in published)
    assert all(a["Type"] == "String" for n in published for a in n["MessageAttributes"].values())
    assert summary == {
        "recognized": True,
        "published": len(expected),
        "alert_types": [e[0] for e in expected],
        "suppressed": 0,
        "ignored": 0,
    }


def test_messages_carry_counts_and_names_but_no_identifiers(stack: AlertStack) -> None:
    for name in EXPECTED:
        stack.invoke(sample(name))

    for notification in stack.published():
        text = notification["Subject"] + notification["Message"]
        assert "549755885175" not in text  # the ad account id in the events
        assert "123456789012" not in text  # the AWS account id
        assert "pina_" not in text and "@" not in text


# -- suppression and recovery -------------------------------------------------------------------------------------


def test_same_alarm_twice_within_the_window_sends_one_message(stack: AlertStack) -> None:
    event = sample("alarm-dead-letter-queue.json")
    stack.now = datetime(2026, 11, 28, 10, 5, tzinfo=UTC)

    first = stack.invoke(event)
    stack.now = datetime(2026, 11, 28, 10, 50, tzinfo=UTC)
    second = stack.invoke(event)

    assert (first["published"], second["published"], second["suppressed"]) == (1, 0, 1)
    assert len(stack.published()) == 1
    (item,) = stack.open_alerts()
    assert item["pk"]["S"] == "ALERT#alarm:pinsync-dead-letter-queue" and item["sk"]["S"] == "OPEN"
    assert int(item["expires_at"]["N"]) > int(item["suppress_until"]["N"])


def test_the_same_alert_is_sent_again_after_the_window(stack: AlertStack) -> None:
    event = sample("dataflow-run-failed.json")
    stack.now = datetime(2026, 11, 28, 10, 5, tzinfo=UTC)
    stack.invoke(event)

    stack.now = datetime(2026, 11, 28, 11, 6, tzinfo=UTC)
    again = stack.invoke(event)

    assert again["published"] == 1
    assert len(stack.published()) == 2
    (item,) = stack.open_alerts()
    assert item["sent_count"]["N"] == "2"
    assert item["opened_at"]["S"].startswith("2026-11-28T10:05")


def test_rotation_failure_reported_three_ways_is_one_message(stack: AlertStack) -> None:
    for name in (
        "token-rotation-failed.json",
        "secretsmanager-rotation-failed.json",
        "alarm-token-rotation-failed.json",
    ):
        stack.invoke(sample(name))

    assert [attributes(n)["alert_type"] for n in stack.published()] == ["token_rotation_failed"]


def test_alarm_then_ok_sends_recovered_and_clears_the_state(stack: AlertStack) -> None:
    stack.invoke(sample("alarm-dead-letter-queue.json"))
    assert len(stack.open_alerts()) == 1

    summary = stack.invoke(sample("alarm-dead-letter-queue-ok.json"))

    first, recovered = stack.published()
    assert attributes(first)["alert_type"] == "dead_letter_queue"
    assert attributes(recovered) == {"alert_type": "recovered", "severity": "info"}
    assert recovered["Subject"] == '[pinsync INFO] Recovered: Messages in the dead-letter queue of "pinsync"'
    assert "pinsync-dead-letter-queue" in recovered["Message"] and "back to OK" in recovered["Message"]
    assert stack.open_alerts() == []
    assert summary["alert_types"] == ["recovered"]


def test_ok_without_an_open_alert_sends_nothing(stack: AlertStack) -> None:
    summary = stack.invoke(sample("alarm-dead-letter-queue-ok.json"))

    assert stack.published() == []
    assert (summary["published"], summary["ignored"]) == (0, 1)


def test_after_recovery_a_new_alarm_is_sent_at_once(stack: AlertStack) -> None:
    stack.invoke(sample("alarm-dead-letter-queue.json"))
    stack.invoke(sample("alarm-dead-letter-queue-ok.json"))

    again = stack.invoke(sample("alarm-dead-letter-queue.json"))

    assert again["published"] == 1
    assert [attributes(n)["alert_type"] for n in stack.published()] == [
        "dead_letter_queue",
        "recovered",
        "dead_letter_queue",
    ]


def test_a_failed_publish_reopens_the_window_so_the_retry_sends(stack: AlertStack) -> None:
    stack.configure(alert_topic_arn=stack.topic_arn.replace("pinsync-alerts", "deleted-topic"))
    event = sample("alarm-sync-errors.json")

    with pytest.raises(Exception, match=r"NotFound|does not exist"):
        stack.invoke(event)

    stack.configure()
    retried = stack.invoke(event)

    assert retried["published"] == 1
    assert len(stack.published()) == 1


def test_a_failed_recovery_publish_keeps_the_alert_open_so_the_retry_sends_recovered(stack: AlertStack) -> None:
    """The recovery deletes the open alert before publishing: when SNS fails, the retried event found nothing open and
    the recovered message was never sent (the person is left with an alert that never closes)."""
    stack.invoke(sample("alarm-dead-letter-queue.json"))
    stack.configure(alert_topic_arn=stack.topic_arn.replace("pinsync-alerts", "deleted-topic"))
    recovery = sample("alarm-dead-letter-queue-ok.json")

    with pytest.raises(Exception, match=r"NotFound|does not exist"):
        stack.invoke(recovery)

    assert len(stack.open_alerts()) == 1
    stack.configure()
    retried = stack.invoke(recovery)

    assert retried["alert_types"] == ["recovered"]
    assert [attributes(n)["alert_type"] for n in stack.published()] == ["dead_letter_queue", "recovered"]
    assert stack.open_alerts() == []
    again = stack.invoke(sample("alarm-dead-letter-queue.json"))  # closed: the next alarm is sent at once
    assert again["published"] == 1


# -- events the function does not understand ----------------------------------------------------------------------

MARKER = "pina_SECRET-MARKER-9f3c"


@pytest.mark.parametrize(
    "event",
    [
        MARKER,
        [MARKER],
        42,
        {"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "detail": {"x": MARKER}},
        {"source": "pinsync", "detail-type": "Something New", "detail": {"x": MARKER}},
        {**sample("alarm-dead-letter-queue.json"), "detail": {"alarmName": MARKER}},
        {**sample("dataflow-run-failed.json"), "detail": {"destination": {"name": MARKER}}},
        {**sample("token-rotation-failed.json"), "time": MARKER},
    ],
    ids=[
        "string",
        "list",
        "number",
        "unknown-source",
        "unknown-detail-type",
        "alarm-missing-fields",
        "run-missing-counts",
        "bad-time",
    ],
)
def test_garbage_is_logged_without_payload_and_counted(
    event: Any, stack: AlertStack, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = stack.invoke(event)

    output = capsys.readouterr().out
    assert summary["recognized"] is False and summary["published"] == 0
    assert stack.published() == []
    assert MARKER not in output
    assert "Event not recognised" in output
    emf = [json.loads(line) for line in output.splitlines() if line.startswith('{"_aws"')]
    assert any(line.get("AlertEventsUnrecognized") == [1.0] for line in emf)


# -- optional webhook ---------------------------------------------------------------------------------------------


@pytest.fixture
def webhook_secret(stack: AlertStack) -> str:
    arn: str = stack.client("secretsmanager").create_secret(
        Name="pinsync/alert-webhook", SecretString=json.dumps({"url": WEBHOOK_URL})
    )["ARN"]
    stack.configure(alert_webhook_secret_id=arn)
    return arn


def test_webhook_receives_a_slack_payload(webhook_secret: str, stack: AlertStack) -> None:
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, WEBHOOK_URL, body="ok", status=200)

        stack.invoke(sample("alarm-queue-delay.json"))

        (call,) = mock.calls
    payload = json.loads(call.request.body or b"{}")
    assert payload["text"] == ':warning: Audience updates for "pinsync" are delayed'
    assert payload["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": 'Audience updates for "pinsync" are delayed'},
    }
    assert cast(Any, call.request).req_kwargs["timeout"] == 5.0
    assert len(stack.published()) == 1


def test_a_failing_webhook_is_counted_and_does_not_block_sns(
    webhook_secret: str, stack: AlertStack, capsys: pytest.CaptureFixture[str]
) -> None:
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, WEBHOOK_URL, body="boom", status=500)

        summary = stack.invoke(sample("dataflow-run-failed.json"))

        assert len(mock.calls) == 1  # no retry storm
    output = capsys.readouterr().out
    assert summary["published"] == 1 and len(stack.published()) == 1
    assert "AlertWebhookFailures" in output
    assert WEBHOOK_URL not in output and "hooks.example.com" not in output


@pytest.mark.parametrize(
    ("status", "location"),
    [
        (302, "https://elsewhere.example.com/landing"),  # requests would follow with a GET: the payload never arrives
        (307, "http://hooks.example.com/plain"),  # requests would POST the payload again, over plain HTTP
    ],
)
def test_a_redirecting_webhook_is_a_failed_post_not_followed(
    status: int, location: str, webhook_secret: str, stack: AlertStack, capsys: pytest.CaptureFixture[str]
) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.POST, WEBHOOK_URL, status=status, headers={"Location": location})
        mock.add(responses.GET, location, body="ok", status=200)
        mock.add(responses.POST, location, body="ok", status=200)

        summary = stack.invoke(sample("dataflow-run-failed.json"))

        assert [call.request.url for call in mock.calls] == [WEBHOOK_URL]
    output = capsys.readouterr().out
    assert summary["published"] == 1 and len(stack.published()) == 1
    assert f"http_{status}" in output and "AlertWebhookFailures" in output


def test_a_binary_webhook_secret_that_is_not_text_is_counted_not_a_crash(
    stack: AlertStack, capsys: pytest.CaptureFixture[str]
) -> None:
    arn = stack.client("secretsmanager").create_secret(Name="pinsync/alert-webhook", SecretBinary=b"\xff\xfe\x00")[
        "ARN"
    ]
    stack.configure(alert_webhook_secret_id=arn)

    summary = stack.invoke(sample("dataflow-run-failed.json"))

    output = capsys.readouterr().out
    assert summary["published"] == 1 and len(stack.published()) == 1
    assert "secret_not_a_url" in output and "AlertWebhookFailures" in output


def test_without_a_webhook_secret_nothing_is_posted(stack: AlertStack) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        stack.invoke(sample("alarm-queue-delay.json"))

        assert len(mock.calls) == 0
    assert stack.runtime.service.webhook is None


def test_suppression_window_comes_from_the_settings(stack: AlertStack) -> None:
    stack.configure(suppression_minutes=5)
    start = datetime(2026, 11, 28, 10, 5, tzinfo=UTC)

    stack.now = start
    stack.invoke(sample("alarm-queue-delay.json"))
    stack.now = start + timedelta(minutes=6)
    stack.invoke(sample("alarm-queue-delay.json"))

    assert len(stack.published()) == 2

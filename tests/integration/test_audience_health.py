"""The audience health function end to end, on moto and the Pinterest emulator: audiences synced by the real sync
function, the check reading them over HTTP, its HEALTH items, metrics and Audience Health events; then the alert
function turning those events into audience_* alerts and recovered."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.logging import correlation_paths
from local_stack.handlers import load_module
from pinsync.adapters.dynamo_health import DynamoHealthStore
from pinsync.alerts.runtime import AlertClients
from pinsync.alerts.runtime import build_runtime as build_alert_runtime
from pinsync.alerts.settings import AlertSettings
from pinsync.core.observability import instrumented
from pinsync.health.runtime import HealthClients, build_runtime
from pinsync.health.settings import HealthSettings
from pinterest_emulator import DEFAULT_AD_ACCOUNT_ID, EmulatorServer

from tests.builders import FakeContext, body, profile, sqs_event
from tests.fakes.metrics import RecordingMetrics
from tests.integration.conftest import REGION, TABLE, SyncFunction, received_json

START = datetime.now(UTC).replace(microsecond=0)


def members(audience: str, count: int, status: str = "realized", at: str = "2026-11-28T10:00:00Z") -> str:
    return body(*(profile({audience: status}, email=f"{audience}-{i}@example.com", at=at) for i in range(count)))


@dataclass
class Health:
    sync: SyncFunction
    topic_arn: str
    inbox_url: str
    now: datetime = START
    metrics: RecordingMetrics = field(default_factory=RecordingMetrics)

    def check(self) -> dict[str, Any]:
        """One scheduled run of the health function, at ``now``."""
        settings = HealthSettings.of(
            ad_account_id=DEFAULT_AD_ACCOUNT_ID,
            pinterest_api_base_url=self.sync.emulator.base_url,
            token_secret_id=self.sync.secret_arn,
            state_table_name=TABLE,
            destination_name="pinsync test",
        )
        runtime = build_runtime(settings, HealthClients.create(), metrics=self.metrics, clock=lambda: self.now)
        result: dict[str, Any] = instrumented()(runtime.handle)({}, FakeContext())
        return result

    def reports(self) -> list[dict[str, Any]]:
        """The Audience Health events on the bus (as EventBridge delivers them), since the last call."""
        events = received_json(boto3.client("sqs", region_name=REGION), self.sync.runs_queue_url)
        # moto leaves out the envelope's "account", which EventBridge always sets
        return [{"account": "123456789012", **e} for e in events if e["detail-type"] == "Audience Health"]

    def alert(self, event: dict[str, Any]) -> list[tuple[str, str]]:
        """The alert function handling one event: the (alert_type, subject) it published."""
        settings = AlertSettings.of(
            alert_topic_arn=self.topic_arn, state_table_name=TABLE, destination_name="pinsync test", stack_name="t"
        )
        runtime = build_alert_runtime(settings, AlertClients.create(), clock=lambda: self.now)
        instrumented(correlation_id_path=correlation_paths.EVENT_BRIDGE)(runtime.handle)(event, FakeContext())
        published = received_json(boto3.client("sqs", region_name=REGION), self.inbox_url)
        return [(n["MessageAttributes"]["alert_type"]["Value"], n["Subject"]) for n in published]

    def check_and_alert(self, after: timedelta = timedelta(0)) -> list[tuple[str, str]]:
        self.now += after
        self.check()
        return [sent for report in self.reports() for sent in self.alert(report)]

    def list_id(self, audience: str) -> str:
        mapping = self.sync.mapping(audience)
        assert mapping is not None
        return str(mapping["customer_list_id"]["S"])


@pytest.fixture
def health(sync_env: SyncFunction) -> Iterator[Health]:
    sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    inbox = sqs.create_queue(QueueName="alert-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    sync_env.invoke(sqs_event(members("big", 120), members("small", 5)))
    yield Health(sync=sync_env, topic_arn=topic, inbox_url=inbox)


def test_a_check_writes_health_items_metrics_and_one_event_without_pinterest_ids(health: Health) -> None:
    result = health.check()

    assert result == {"audiences": 2, "states": {"ok": 1, "too_small": 1}}
    records = {
        r.audience_id: r for r in DynamoHealthStore(boto3.client("dynamodb", region_name=REGION), TABLE).all_records()
    }
    assert (records["big"].size, records["big"].audience_status, records["big"].uploaded_records) == (120, "READY", 120)
    assert (records["small"].size, records["small"].state.value, records["small"].first_seen_at) == (
        5,
        "too_small",
        START,
    )
    assert health.metrics.by_audience[("AudienceSize", "big")] == 120
    assert health.metrics.by_audience[("AudienceSize", "small")] == 5
    (report,) = health.reports()
    assert report["source"] == "pinsync" and report["detail"]["destination"]["name"] == "pinsync test"
    assert [(a["audience_id"], a["state"], a["size"]) for a in report["detail"]["audiences"]] == [
        ("big", "ok", 120), ("small", "too_small", 5)]  # fmt: skip
    text = json.dumps(report["detail"])
    for audience in ("big", "small"):
        assert health.list_id(audience) not in text
    assert DEFAULT_AD_ACCOUNT_ID not in text and "@example.com" not in text


def test_too_small_alerts_after_the_allowed_time_then_recovers(health: Health) -> None:
    assert health.check_and_alert() == []  # first seen now: too small, but not for long

    sent = health.check_and_alert(after=timedelta(hours=73))

    assert sent == [
        ("audience_too_small", '[pinsync WARNING] Audience "small" still too small on Pinterest ("pinsync test")')
    ]
    health.sync.invoke(sqs_event(members("small", 100)))  # 100 new members: 105 in all
    assert health.check_and_alert(after=timedelta(days=1)) == [
        ("recovered", '[pinsync INFO] Recovered: Audience "small" still too small on Pinterest ("pinsync test")')
    ]
    assert health.check_and_alert(after=timedelta(days=1)) == []  # closed: nothing more


def test_a_deleted_list_alerts_missing_and_a_new_link_recovers(health: Health, emulator: EmulatorServer) -> None:
    health.check_and_alert()
    old_list = health.list_id("big")
    assert emulator.state.delete_customer_list(old_list)

    sent = health.check_and_alert(after=timedelta(days=1))

    assert [alert_type for alert_type, _ in sent] == ["audience_missing"]
    (record,) = [r for r in DynamoHealthStore(boto3.client("dynamodb", region_name=REGION), TABLE).all_records()
                 if r.audience_id == "big"]  # fmt: skip
    assert (record.state.value, record.missing, record.previous_size) == ("missing", ("customer_list",), 120)
    # the operator links a new list and audience (what `pinsync audiences activate --customer-list-id --force` does)
    new_list = emulator.state.create_customer_list(
        DEFAULT_AD_ACCOUNT_ID, "again", ",".join(f"r{i}@example.com" for i in range(150)), "EMAIL"
    )
    new_audience = emulator.state.create_audience(
        DEFAULT_AD_ACCOUNT_ID,
        {"name": "again", "audience_type": "CUSTOMER_LIST", "rule": {"customer_list_id": new_list["id"]}},
    )
    boto3.client("dynamodb", region_name=REGION).update_item(
        TableName=TABLE,
        Key={"pk": {"S": "AUDIENCE#big"}, "sk": {"S": "MAPPING"}},
        UpdateExpression="SET customer_list_id = :l, pinterest_audience_id = :a",
        ExpressionAttributeValues={":l": {"S": new_list["id"]}, ":a": {"S": new_audience["id"]}},
    )

    assert [t for t, _ in health.check_and_alert(after=timedelta(days=1))] == ["recovered"]


def test_a_shrink_beyond_the_threshold_within_a_day_alerts_then_recovers(health: Health) -> None:
    health.check_and_alert()
    exits = body(
        *(profile({"big": "exited"}, email=f"big-{i}@example.com", at="2026-11-28T11:00:00Z") for i in range(70))
    )
    health.sync.invoke(sqs_event(exits))  # 120 → 50: 58 % lost

    sent = health.check_and_alert(after=timedelta(days=1))

    assert sent == [
        ("audience_shrunk", '[pinsync WARNING] Audience "big" shrank by 58.33% on Pinterest ("pinsync test")')
    ]
    assert health.check_and_alert(after=timedelta(days=1)) == [
        ("recovered", '[pinsync INFO] Recovered: Audience "big" shrank by 58.33% on Pinterest ("pinsync test")')
    ]


def test_pinterest_down_makes_audiences_unreadable_and_decides_nothing(
    health: Health, emulator: EmulatorServer
) -> None:
    health.check_and_alert()
    emulator.state.inject("error", count=1000, status=503, method="GET")

    result = health.check()

    assert result["states"] == {"unreadable": 2}
    assert [health.alert(report) for report in health.reports()] == [[]]


def test_the_function_reads_its_settings_from_the_environment(
    sync_env: SyncFunction,
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sync_env.invoke(sqs_event(members("big", 3)))
    for name, value in {
        "AD_ACCOUNT_ID": DEFAULT_AD_ACCOUNT_ID,
        "PINTEREST_API_BASE_URL": emulator.base_url,
        "TOKEN_SECRET_ID": sync_env.secret_arn,
        "STATE_TABLE_NAME": TABLE,
        "EVENT_BUS_NAME": "default",
        "DESTINATION_NAME": "from env",
    }.items():
        monkeypatch.setenv(name, value)
    app = load_module("audience_health")
    capsys.readouterr()

    assert app.lambda_handler({"source": "aws.events"}, FakeContext()) == {"audiences": 1, "states": {"too_small": 1}}

    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    sizes = [doc for doc in emf if "AudienceSize" in doc]
    assert [(doc["AudienceSize"], doc["Audience"], doc["service"]) for doc in sizes] == [([3.0], "big", "pinsync")]
    assert sizes[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service", "Audience"]]
    assert app.runtime() is app.runtime()

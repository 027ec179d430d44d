"""Each ``functions/<name>/app.py`` as Lambda loads it: settings from the environment template.yaml sets, built once
per cold start. Every other test builds the runtimes with their own settings; these check the documented environment
variables end to end."""

from __future__ import annotations

import json

import boto3
import pytest
from local_stack.handlers import load_module
from local_stack.stack import create_state_table
from moto import mock_aws
from pinsync.core.errors import ConfigurationError
from pinsync.sync.identities import sha256_hex
from pinterest_emulator import DEFAULT_AD_ACCOUNT_ID, EmulatorServer

from tests.builders import FakeContext, body, profile, sqs_event
from tests.integration.conftest import REGION, TABLE, Aws, fake_aws_environment


def test_the_sync_function_reads_its_settings_from_the_environment(
    aws: Aws, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "AD_ACCOUNT_ID": DEFAULT_AD_ACCOUNT_ID,
        "PINTEREST_API_BASE_URL": emulator.base_url,
        "TOKEN_SECRET_ID": aws.secret_arn,
        "STATE_TABLE_NAME": TABLE,
        "EVENT_BUS_NAME": "default",
        "ACTIVATED_AUDIENCES": "chosen",
        "MAX_RECORDS_PER_REQUEST": "2",
        "DESTINATION_NAME": "from env",
    }.items():
        monkeypatch.setenv(name, value)
    app = load_module("audience_sync")
    event = sqs_event(
        body(profile({"chosen": "realized", "other": "realized"}, email=[f"p{i}@example.com" for i in range(5)]))
    )

    assert app.lambda_handler(event, FakeContext()) == {"batchItemFailures": []}

    [customer_list] = emulator.state.customer_lists()
    assert customer_list["name"] == "from env chosen"  # DESTINATION_NAME, and only the activated audience
    assert emulator.state.members(customer_list["id"]) == {sha256_hex(f"p{i}@example.com") for i in range(5)}
    patches = [entry for entry in emulator.state.requests_log if entry["method"] == "PATCH"]
    assert len(patches) == 2  # 5 records: 2 in the create call, then 2 + 1 (MAX_RECORDS_PER_REQUEST)
    assert app.runtime() is app.runtime()  # built once per cold start
    [run] = aws.dataflow_runs()
    assert run["destination"] == {"name": "from env", "ad_account_id": DEFAULT_AD_ACCOUNT_ID}
    assert run["identities"]["excluded_by_reason"] == {"not_activated": 5}


def test_a_missing_setting_fails_the_invocation_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOKEN_SECRET_ID", raising=False)
    monkeypatch.setenv("AD_ACCOUNT_ID", "not-a-number")
    app = load_module("audience_sync")
    with pytest.raises(ConfigurationError, match=r"AD_ACCOUNT_ID.*TOKEN_SECRET_ID") as raised:
        app.lambda_handler(sqs_event(body(profile({"a": "realized"}, email="x@example.com"))), FakeContext())
    assert "not-a-number" not in str(raised.value)  # values are never echoed


def test_the_rotation_function_reads_its_settings_from_the_environment(
    aws: Aws, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "AD_ACCOUNT_ID": DEFAULT_AD_ACCOUNT_ID,
        "PINTEREST_API_BASE_URL": emulator.base_url,
        "EVENT_BUS_NAME": "default",
        "DESTINATION_NAME": "from env",
    }.items():
        monkeypatch.setenv(name, value)
    app = load_module("token_rotation")

    result = app.lambda_handler({"Check": "TokenExpiry", "SecretId": aws.secret_arn}, FakeContext())

    assert result == {"check": "TokenExpiry", "connected": True}


def test_the_alert_function_reads_its_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_aws_environment(monkeypatch)
    with mock_aws():
        sns = boto3.client("sns", region_name=REGION)
        topic = sns.create_topic(Name="alerts")["TopicArn"]
        sqs = boto3.client("sqs", region_name=REGION)
        inbox = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
        create_state_table(boto3.client("dynamodb", region_name=REGION), TABLE)
        for name, value in {
            "ALERT_TOPIC_ARN": topic,
            "STATE_TABLE_NAME": TABLE,
            "DESTINATION_NAME": "from env",
            "STACK_NAME": "envstack",
            "SUPPRESSION_MINUTES": "5",
        }.items():
            monkeypatch.setenv(name, value)
        app = load_module("dataflow_alerts")
        run = {
            "version": "0",
            "id": "7bf73129-1428-4cd3-a780-95db273d1602",
            "detail-type": "Dataflow Run",
            "source": "pinsync",
            "account": "123456789012",
            "time": "2026-11-28T10:00:00Z",
            "region": REGION,
            "resources": [],
            "detail": {
                "destination": {"name": "from env"},
                "messages": {"received": 1},
                "profiles_received": 1,
                "identities": {"activated": 0, "excluded": 0, "failed": 2, "failed_by_reason": {"deadline": 2}},
                "excluded_share": 0,
            },
        }

        assert app.lambda_handler(run, FakeContext())["alert_types"] == ["dataflow_run_failed"]

        [message] = sqs.receive_message(QueueUrl=inbox)["Messages"]
        notification = json.loads(message["Body"])
        assert '"from env"' in notification["Subject"]
        assert app.runtime().service.window.total_seconds() == 300  # SUPPRESSION_MINUTES

"""``functions/ingest_authorizer/app.py`` as Lambda runs it, reading the ingest token from (moto's) Secrets Manager:
the right token is allowed, another denied, a rotated token picked up once the cache is gone, a malformed secret denies
everything, an unreadable one fails the invocation (API Gateway answers 503 and caches nothing), and the token is
never in the output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from local_stack.handlers import load_module
from moto import mock_aws
from pinsync.adapters.secretsmanager_ingest_token import IngestTokenUnavailableError
from pinsync.ingest.authorizer import UnauthorizedError
from pinsync.ingest.door import RESOURCE, STAGE

from tests.builders import FakeContext
from tests.integration.conftest import REGION, fake_aws_environment

TOKEN = "Ingest0Token0" + "k" * 35
ROTATED = "Rotated0Token0" + "r" * 34
API_ARN = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5"
ROUTE = f"{API_ARN}/{STAGE}/POST/{RESOURCE}"


def event(header: str | None) -> dict[str, Any]:
    found: dict[str, Any] = {"type": "TOKEN", "methodArn": ROUTE}
    if header is not None:
        found["authorizationToken"] = header
    return found


class Door:
    def __init__(self, app: ModuleType, secret_arn: str) -> None:
        self.app = app
        self.secret_arn = secret_arn

    def effect(self, token: str) -> str:
        policy = self.app.lambda_handler(event(f"Bearer {token}"), FakeContext())
        [statement] = policy["policyDocument"]["Statement"]
        assert statement["Resource"] == ROUTE  # this API's route, allowed or denied
        return str(statement["Effect"])

    def put_secret(self, value: str) -> None:
        boto3.client("secretsmanager", region_name=REGION).put_secret_value(
            SecretId=self.secret_arn, SecretString=value
        )

    def cache_expires(self) -> None:
        self.app.runtime().tokens.clear_cache()


@pytest.fixture
def door(monkeypatch: pytest.MonkeyPatch) -> Iterator[Door]:
    fake_aws_environment(monkeypatch)
    with mock_aws():
        arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name="pinsync/ingest-token", SecretString=json.dumps({"token": TOKEN})
        )["ARN"]
        monkeypatch.setenv("INGEST_TOKEN_SECRET_ID", arn)
        yield Door(load_module("ingest_authorizer"), arn)


def test_the_ingest_token_is_allowed_and_another_denied(door: Door) -> None:
    assert door.effect(TOKEN) == "Allow"
    assert door.effect(ROTATED) == "Deny"
    assert door.effect(TOKEN + "x") == "Deny"
    assert door.app.runtime() is door.app.runtime()  # built once per cold start


@pytest.mark.parametrize("header", [None, "", f"Basic {TOKEN}", "Bearer", f"Bearer {TOKEN} x"])
def test_a_missing_or_malformed_header_fails_the_invocation_with_unauthorized(door: Door, header: str | None) -> None:
    with pytest.raises(UnauthorizedError) as raised:
        door.app.lambda_handler(event(header), FakeContext())

    assert str(raised.value) == "Unauthorized"


def test_a_rotated_token_is_picked_up_once_the_cache_expires(door: Door) -> None:
    assert door.effect(TOKEN) == "Allow"
    door.put_secret(json.dumps({"token": ROTATED}))

    assert door.effect(TOKEN) == "Allow"  # still the cached value (300 s in Lambda)
    door.cache_expires()
    assert door.effect(ROTATED) == "Allow"
    assert door.effect(TOKEN) == "Deny"


@pytest.mark.parametrize(
    "broken",
    [
        "not json",
        json.dumps({}),
        json.dumps({"token": ""}),
        json.dumps({"token": "short"}),
        json.dumps({"token": 12345678901234567890123456789012345}),
        json.dumps(["token", TOKEN]),
        json.dumps({"status": "placeholder", "tok": TOKEN}),
    ],
)
def test_a_malformed_secret_denies_everything_and_says_so_without_the_value(
    door: Door, broken: str, capsys: pytest.CaptureFixture[str]
) -> None:
    door.put_secret(broken)
    door.cache_expires()
    capsys.readouterr()

    assert door.effect(TOKEN) == "Deny"
    assert door.effect("short" * 8) == "Deny"

    output = capsys.readouterr().out
    errors = [json.loads(line) for line in output.splitlines() if '"level":"ERROR"' in line.replace(" ", "")]
    assert errors and all("ingest token secret" in e["message"] for e in errors)
    assert TOKEN not in output
    assert "not json" not in output


@pytest.mark.parametrize("deletion", [{"ForceDeleteWithoutRecovery": True}, {"RecoveryWindowInDays": 7}])
def test_an_unreadable_secret_fails_the_invocation_rather_than_deny(
    door: Door, deletion: dict[str, Any], capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # A Deny would be cached for the token for 5 minutes (403s AEP drops after two retries); a failed invocation is
    # a 503 that API Gateway does not cache.
    assert door.effect(TOKEN) == "Allow"
    boto3.client("secretsmanager", region_name=REGION).delete_secret(SecretId=door.secret_arn, **deletion)
    door.cache_expires()
    capsys.readouterr()

    with pytest.raises(IngestTokenUnavailableError) as raised:
        door.app.lambda_handler(event(f"Bearer {TOKEN}"), FakeContext())

    assert str(raised.value) == "the ingest token secret cannot be read; retry"
    output = capsys.readouterr().out + caplog.text
    [error] = [json.loads(line) for line in output.splitlines() if '"level":"ERROR"' in line.replace(" ", "")]
    assert error["message"] == "cannot read the ingest token secret; failing the invocation"
    assert error["error_code"] in {"ResourceNotFoundException", "InvalidRequestException"}
    assert TOKEN not in output and TOKEN not in str(raised.value)


def test_a_client_error_fails_the_invocation_and_the_next_read_recovers(
    door: Door, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    client = door.app.runtime().tokens._provider.client
    read = client.get_secret_value

    def throttled(**_: Any) -> Any:
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "GetSecretValue")

    monkeypatch.setattr(client, "get_secret_value", throttled)
    door.cache_expires()
    with pytest.raises(IngestTokenUnavailableError):
        door.app.lambda_handler(event(f"Bearer {TOKEN}"), FakeContext())

    monkeypatch.setattr(client, "get_secret_value", read)  # Secrets Manager is back: the next request is answered
    assert door.effect(TOKEN) == "Allow"
    assert TOKEN not in capsys.readouterr().out


def test_no_output_carries_the_token(
    door: Door, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    results = []
    for header in [f"Bearer {TOKEN}", f"Bearer {ROTATED}", f"bearer   {TOKEN}"]:
        results.append(door.app.lambda_handler(event(header), FakeContext()))
    with pytest.raises(UnauthorizedError) as raised:
        door.app.lambda_handler(event(f"Token {TOKEN}"), FakeContext())

    everything = (
        capsys.readouterr().out + capsys.readouterr().err + caplog.text + json.dumps(results) + str(raised.value)
    )
    assert "denied" in everything  # the decision is logged...
    assert TOKEN not in everything  # ...never the token, presented or expected
    assert ROTATED not in everything
    assert TOKEN[:16] not in everything

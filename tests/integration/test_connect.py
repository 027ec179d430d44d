"""`pinsync connect` and `pinsync status` end to end: moto in-process for AWS, the Pinterest emulator over HTTP.

The "browser" is a function that follows the authorize URL with requests: the emulator auto-approves and its 302
lands on the command's localhost callback, exactly as a person's browser would.
"""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import boto3
import pytest
import requests
from local_stack.stack import seeded_token_secret
from moto import mock_aws
from pinsync.tokens import TokenSecret
from pinsync_cli import connect, status
from pinterest_emulator import DEFAULT_AD_ACCOUNT_ID, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, EmulatorServer

from tests.integration.conftest import fake_aws_environment

REGION = "us-east-1"


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer) -> Iterator[tuple[str, TokenSecret]]:
    fake_aws_environment(monkeypatch)
    for name in ("PINTEREST_CLIENT_ID", "PINTEREST_CLIENT_SECRET", "AD_ACCOUNT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PINTEREST_API_BASE_URL", emulator.base_url)
    with mock_aws():
        seed = seeded_token_secret(emulator)
        arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name="pinsync/pinterest-token", SecretString=seed.to_secret_string()
        )["ARN"]
        yield arn, seed


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pinsync")
    commands = parser.add_subparsers(dest="command", required=True)
    connect.register(commands)
    status.register(commands)
    return parser.parse_args(argv)


def connect_args(emulator: EmulatorServer, secret_arn: str, *extra: str) -> argparse.Namespace:
    return parse(
        "connect",
        "--secret-id",
        secret_arn,
        "--client-id",
        DEFAULT_CLIENT_ID,
        "--client-secret",
        DEFAULT_CLIENT_SECRET,
        "--ad-account-id",
        DEFAULT_AD_ACCOUNT_ID,
        "--authorize-url",
        f"{emulator.root_url}/oauth/",
        "--port",
        "0",
        "--timeout",
        "10",
        *extra,
    )


class Browser:
    """Follows the authorize URL like a browser; ``tamper`` rewrites the query first (an attacker's callback)."""

    def __init__(self, tamper: dict[str, str] | None = None) -> None:
        self.tamper = tamper or {}
        self.urls: list[str] = []
        self.final: requests.Response | None = None

    def __call__(self, url: str) -> None:
        self.urls.append(url)
        parts = urlsplit(url)
        query = {**dict(parse_qsl(parts.query)), **self.tamper}
        self.final = requests.get(urlunsplit(parts._replace(query=urlencode(query))), allow_redirects=True, timeout=10)


def current(secret_arn: str) -> TokenSecret:
    value = boto3.client("secretsmanager", region_name=REGION).get_secret_value(
        SecretId=secret_arn, VersionStage="AWSCURRENT"
    )["SecretString"]
    return TokenSecret.model_validate_json(value)


def reads_ad_account(emulator: EmulatorServer, token: TokenSecret) -> bool:
    response = requests.get(
        f"{emulator.base_url}/ad_accounts/{DEFAULT_AD_ACCOUNT_ID}",
        headers={"Authorization": f"Bearer {token.access_token.get_secret_value()}"},
        timeout=10,
    )
    return response.status_code == 200


def values(*tokens: TokenSecret) -> list[str]:
    return [t.get_secret_value() for token in tokens for t in (token.access_token, token.refresh_token)]


def test_browser_flow_writes_a_working_token_as_awscurrent(secret, emulator):
    arn, seed = secret
    browser, out = Browser(), io.StringIO()

    code = connect.run(connect_args(emulator, arn), open_browser=browser, out=out, err=out)

    assert code == 0, out.getvalue()
    [url] = browser.urls
    query = dict(parse_qsl(urlsplit(url).query))
    assert url.startswith(f"{emulator.root_url}/oauth/?")
    assert query["client_id"] == DEFAULT_CLIENT_ID
    assert query["response_type"] == "code"
    assert query["scope"] == "ads:read,ads:write"
    assert query["redirect_uri"].startswith("http://localhost:") and query["redirect_uri"].endswith("/callback")
    assert len(query["state"]) >= 32
    assert browser.final is not None and browser.final.status_code == 200
    stored = current(arn)
    assert stored.access_token != seed.access_token and stored.refresh_token != seed.refresh_token
    assert (stored.client_id, stored.client_secret.get_secret_value()) == (DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
    assert stored.refresh_token_expires_at - datetime.now(UTC) > timedelta(days=59)
    assert reads_ad_account(emulator, stored)
    assert "is now AWSCURRENT" in out.getvalue()
    assert "audience access       yes (OWNER)" in out.getvalue()
    assert [v for v in [*values(stored, seed), DEFAULT_CLIENT_SECRET] if v in out.getvalue()] == []


def test_state_mismatch_is_refused_and_nothing_is_written(secret, emulator):
    arn, seed = secret
    out = io.StringIO()

    code = connect.run(connect_args(emulator, arn), open_browser=Browser(tamper={"state": "forged"}), out=out, err=out)

    assert code == 3
    assert "state mismatch" in out.getvalue()
    assert current(arn) == seed
    assert not [e for e in emulator.state.requests_log if e["path"] == "/v5/oauth/token"]  # code never exchanged


def test_no_callback_within_the_timeout_is_a_clear_failure(secret, emulator):
    arn, seed = secret
    out = io.StringIO()

    code = connect.run(
        connect_args(emulator, arn, "--timeout", "0.05"), open_browser=lambda url: None, out=out, err=out
    )

    assert code == 3 and "no authorization received" in out.getvalue()
    assert current(arn) == seed


def test_refresh_token_variant_exchanges_it_and_revokes_the_old_one(secret, emulator):
    arn, _ = secret
    minted = emulator.state.mint_tokens()
    out = io.StringIO()

    code = connect.run(connect_args(emulator, arn, "--refresh-token", minted["refresh_token"]), out=out, err=out)

    assert code == 0, out.getvalue()
    stored = current(arn)
    assert stored.refresh_token.get_secret_value() not in (minted["refresh_token"], "")
    assert reads_ad_account(emulator, stored)
    assert minted["refresh_token"] not in out.getvalue()
    again = connect.run(connect_args(emulator, arn, "--refresh-token", minted["refresh_token"]), out=io.StringIO())
    assert again == 3  # continuous refresh revoked it


def test_refresh_token_from_stdin(secret, emulator):
    arn, _ = secret
    minted = emulator.state.mint_tokens()

    code = connect.run(
        connect_args(emulator, arn, "--refresh-token", "-"),
        out=io.StringIO(),
        stdin=io.StringIO(minted["refresh_token"]),
    )

    assert code == 0
    assert reads_ad_account(emulator, current(arn))


def test_revoked_refresh_token_is_refused_with_exit_3(secret, emulator):
    arn, seed = secret
    out = io.StringIO()
    emulator.state.revoke_refresh_token(seed.refresh_token.get_secret_value())

    code = connect.run(
        connect_args(emulator, arn, "--refresh-token", seed.refresh_token.get_secret_value()), out=out, err=out
    )

    assert code == 3
    assert "invalid grant" in out.getvalue()
    assert seed.refresh_token.get_secret_value() not in out.getvalue()
    assert current(arn) == seed


def test_a_token_that_cannot_read_the_ad_account_is_not_written(secret, emulator):
    arn, seed = secret
    out = io.StringIO()
    args = connect_args(emulator, arn)
    args.ad_account_id = "123456789"

    code = connect.run(args, open_browser=Browser(), out=out, err=out)

    assert code == 3
    assert "cannot read ad account 123456789" in out.getvalue() and "Nothing was written" in out.getvalue()
    assert current(arn) == seed


def test_a_read_only_user_is_refused_at_connect_saying_which_access_is_missing(secret, emulator):
    # Given a Pinterest user who can read the ad account but holds only the Analyst role on it
    arn, seed = secret
    emulator.state.configure(ad_account_permissions=["ANALYST"])
    out = io.StringIO()

    code = connect.run(connect_args(emulator, arn), open_browser=Browser(), out=out, err=out)

    # Then connect refuses, naming the role held and the access needed, and writes nothing
    printed = out.getvalue()
    assert code == 3, printed
    assert "cannot manage its customer lists and audiences" in printed
    assert "has ANALYST on the ad account" in printed and "Admin or Audience access" in printed
    assert "Nothing was written" in printed
    assert current(arn) == seed


def test_a_token_granted_without_ads_write_is_refused_at_connect(secret, emulator):
    arn, seed = secret
    out = io.StringIO()

    code = connect.run(connect_args(emulator, arn, "--scope", "ads:read"), open_browser=Browser(), out=out, err=out)

    assert code == 3
    assert "without the ads:write scope" in out.getvalue()
    assert current(arn) == seed


def test_credentials_from_the_environment_and_usage_errors(secret, emulator, monkeypatch):
    arn, _ = secret
    minted = emulator.state.mint_tokens()
    bare = parse("connect", "--secret-id", arn, "--refresh-token", minted["refresh_token"])
    out = io.StringIO()

    assert connect.run(bare, out=out, err=out) == 2
    assert "--client-id or PINTEREST_CLIENT_ID" in out.getvalue()
    assert "--ad-account-id or AD_ACCOUNT_ID" in out.getvalue()

    monkeypatch.setenv("PINTEREST_CLIENT_ID", DEFAULT_CLIENT_ID)
    monkeypatch.setenv("PINTEREST_CLIENT_SECRET", DEFAULT_CLIENT_SECRET)
    monkeypatch.setenv("AD_ACCOUNT_ID", DEFAULT_AD_ACCOUNT_ID)
    assert connect.run(bare, out=io.StringIO()) == 0
    assert connect.run(parse("connect", "--refresh-token", "x"), out=io.StringIO()) == 2  # no secret given


def test_secret_found_from_the_stack_output_and_aws_errors(secret, emulator):
    arn, _ = secret
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"TokenSecretArn": {"Value": arn}},
    }
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="pinsync", TemplateBody=json.dumps(template)
    )
    minted = emulator.state.mint_tokens()
    base = connect_args(emulator, arn, "--refresh-token", minted["refresh_token"])
    base.secret_id, base.stack_name = None, "pinsync"

    assert connect.run(base, out=io.StringIO()) == 0
    assert current(arn).refresh_token.get_secret_value() != minted["refresh_token"]

    base.stack_name = "missing-stack"
    out = io.StringIO()
    assert connect.run(base, out=out, err=out) == 2
    assert "stack missing-stack not found" in out.getvalue()

    wrong = connect_args(emulator, "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf")
    wrong.refresh_token = emulator.state.mint_tokens()["refresh_token"]
    exchanges = len(oauth_calls(emulator))
    out = io.StringIO()
    assert connect.run(wrong, out=out, err=out) == 4
    assert "ResourceNotFoundException" in out.getvalue() and "nothing was changed" in out.getvalue()
    assert len(oauth_calls(emulator)) == exchanges  # the refresh token was not used up on a secret it cannot write


def oauth_calls(emulator: EmulatorServer) -> list[dict[str, Any]]:
    return [entry for entry in emulator.state.requests_log if entry["path"] == "/v5/oauth/token"]


def test_connect_targets_the_deployment_like_every_command(secret, emulator, monkeypatch):
    """--region and PINSYNC_STACK_NAME; the ad account and API base from the stack's parameters; else
    TOKEN_SECRET_ID and AD_ACCOUNT_ID from the environment (what `pinsync local up` prints)."""
    arn, _ = secret
    template = {
        "Parameters": {"AdAccountId": {"Type": "String"}, "PinterestApiBaseUrl": {"Type": "String"}},
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"TokenSecretArn": {"Value": arn}},
    }
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="pinsync",
        TemplateBody=json.dumps(template),
        Parameters=[
            {"ParameterKey": "AdAccountId", "ParameterValue": DEFAULT_AD_ACCOUNT_ID},
            {"ParameterKey": "PinterestApiBaseUrl", "ParameterValue": emulator.base_url},
        ],
    )
    monkeypatch.delenv("PINTEREST_API_BASE_URL")
    monkeypatch.setenv("PINTEREST_CLIENT_ID", DEFAULT_CLIENT_ID)
    monkeypatch.setenv("PINTEREST_CLIENT_SECRET", DEFAULT_CLIENT_SECRET)
    monkeypatch.setenv("PINSYNC_STACK_NAME", "pinsync")
    minted = emulator.state.mint_tokens()
    out = io.StringIO()

    args = parse("connect", "--region", REGION, "--refresh-token", minted["refresh_token"])
    assert connect.run(args, out=out, err=out) == 0, out.getvalue()
    assert reads_ad_account(emulator, current(arn))

    monkeypatch.delenv("PINSYNC_STACK_NAME")
    monkeypatch.setenv("TOKEN_SECRET_ID", arn)
    monkeypatch.setenv("AD_ACCOUNT_ID", DEFAULT_AD_ACCOUNT_ID)
    monkeypatch.setenv("PINTEREST_API_BASE_URL", emulator.base_url)
    refresh = current(arn).refresh_token.get_secret_value()
    assert connect.run(parse("connect", "--refresh-token", refresh), out=out, err=out) == 0, out.getvalue()
    assert current(arn).refresh_token.get_secret_value() != refresh


def test_connect_errors_go_to_stderr_and_a_long_ad_account_id_is_a_usage_error(secret, emulator, capsys):
    arn, _ = secret
    args = connect_args(emulator, arn, "--refresh-token", "x")
    args.ad_account_id = "1" * 19

    assert connect.run(args) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "1 to 18 digits" in captured.err


def test_connect_clears_an_unfinished_rotation(secret, emulator):
    arn, seed = secret
    sm = boto3.client("secretsmanager", region_name=REGION)
    stuck = sm.put_secret_value(SecretId=arn, SecretString=seed.to_secret_string(), VersionStages=["AWSPENDING"])
    out = io.StringIO()

    assert connect.run(connect_args(emulator, arn), open_browser=Browser(), out=out, err=out) == 0

    stages = sm.describe_secret(SecretId=arn)["VersionIdsToStages"]
    assert "AWSPENDING" not in stages.get(stuck["VersionId"], [])
    assert "unfinished rotation was cleared" in out.getvalue()


# -- status ---------------------------------------------------------------------------------------------------------


def test_status_table_and_json(secret, emulator):
    arn, seed = secret
    now = datetime.now(UTC)

    out = io.StringIO()
    assert status.run(parse("status", "--secret-id", arn), out=out, now=now) == 0
    table = out.getvalue()
    assert "access token expires" in table and "refresh token expires" in table and "last rotation" in table
    assert seed.access_token_expires_at.strftime("%Y-%m-%d") in table
    assert "60.0 days left" in table or "59.9 days left" in table

    out = io.StringIO()
    assert status.run(parse("status", "--secret-id", arn, "--json"), out=out, now=now) == 0
    report: dict[str, Any] = json.loads(out.getvalue())["token"]
    assert report["connected"] is True
    assert report["refresh_token_expires_at"] == seed.model_dump(mode="json")["refresh_token_expires_at"]
    assert report["access_token_days_left"] == pytest.approx(30, abs=0.1)
    assert report["last_rotated_source"] == "AWSCURRENT CreatedDate" and report["last_rotated_at"]
    assert report["rotation_enabled"] is False and report["rotation_pending"] is False
    assert [v for v in values(seed) if v in table + out.getvalue()] == []


def test_status_of_a_secret_never_connected(secret, emulator):
    arn, _ = secret
    boto3.client("secretsmanager", region_name=REGION).put_secret_value(
        SecretId=arn, SecretString='{"status": "not-connected"}'
    )
    out = io.StringIO()

    assert status.run(parse("status", "--secret-id", arn), out=out) == 0
    assert "NOT CONNECTED" in out.getvalue() and "pinsync connect" in out.getvalue()
    out = io.StringIO()
    assert status.run(parse("status", "--secret-id", "nope"), out=out) == 4


@pytest.mark.parametrize("auto_redrive", ["Enabled", "Disabled"])
def test_a_new_token_redrives_the_dead_letters_that_can_now_succeed(secret, emulator, auto_redrive):
    arn, _ = secret
    sqs = boto3.client("sqs", region_name=REGION)
    dlq_url = sqs.create_queue(QueueName="pinsync-audience-dlq")["QueueUrl"]
    queue_url = sqs.create_queue(QueueName="pinsync-audience")["QueueUrl"]
    update = json.dumps(
        {"segmentMembership": {"ups": {"seg": {"status": "realized"}}}, "identityMap": {"Email": [{"id": "a@b.co"}]}}
    )
    for message in (update, "{not json"):
        sqs.send_message(QueueUrl=dlq_url, MessageBody=message)
    refresh_token = emulator.state.mint_tokens()["refresh_token"]
    out = io.StringIO()
    flags = ("--queue-url", queue_url, "--dlq-url", dlq_url, "--auto-redrive", auto_redrive)

    code = connect.run(connect_args(emulator, arn, "--refresh-token", refresh_token, *flags), out=out, err=out)

    assert code == 0, out.getvalue()
    moved = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
    if auto_redrive == "Disabled":
        assert "dead-letter queue" not in out.getvalue() and "Messages" not in moved
        return
    assert "dead-letter queue: 1 message(s) moved back to the audience queue, 1 left" in out.getvalue()
    [message] = moved["Messages"]
    assert message["Body"] == update and "pinsync_redriven" in message["MessageAttributes"]
    left = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in left] == ["{not json"]


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--port", "70000", "--port must be between 0 and 65535"),
        ("--port", "-1", "--port must be between 0 and 65535"),
        ("--timeout", "inf", "--timeout must be a positive number of seconds"),
        ("--timeout", "1e300", "--timeout must be a positive number of seconds"),
        ("--timeout", "nan", "--timeout must be a positive number of seconds"),
        ("--timeout", "-5", "--timeout must be a positive number of seconds"),
    ],
)
def test_a_port_or_timeout_out_of_range_is_a_usage_error(secret, emulator, capsys, flag, value, message):
    arn, seed = secret
    opened: list[str] = []

    code = connect.run(connect_args(emulator, arn, flag, value), open_browser=opened.append)

    assert code == 2
    assert capsys.readouterr().err == f"pinsync connect: {message}\n"
    assert opened == [] and current(arn) == seed

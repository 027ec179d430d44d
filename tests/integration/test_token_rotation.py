"""The rotation handler, step by step as Secrets Manager calls it, with moto in-process and the Pinterest emulator.

Harness (notes §2.4): a stub Lambda (no Docker) lets ``rotate_secret`` leave a real pending version, then the
test calls the handler once per step. The emulator is the oracle for tokens: it revokes a refresh token the
moment it is exchanged (continuous refresh) and answers 401 code 283 for a dead one.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from local_stack.handlers import Handler
from local_stack.stack import create_state_table, seeded_token_secret
from moto import mock_aws
from pinsync.core.observability import instrumented
from pinsync.rotation.invocation import InvalidEventError
from pinsync.rotation.model import (
    AWSCURRENT,
    AWSPENDING,
    AWSPREVIOUS,
    NotConnectedError,
    PendingTokenRejectedError,
    PinterestUnavailableError,
    ReconnectRequiredError,
    RotationError,
    RotationStateError,
)
from pinsync.rotation.runtime import RotationClients, build_runtime
from pinsync.rotation.settings import RotationSettings
from pinsync.sync.runtime import SyncClients
from pinsync.sync.runtime import build_runtime as build_sync_runtime
from pinsync.sync.settings import SyncSettings
from pinsync.tokens import TokenSecret
from pinterest_emulator import DEFAULT_AD_ACCOUNT_ID, EmulatorServer

from tests.builders import FakeContext, body, profile, sqs_event
from tests.integration.conftest import fake_aws_environment, pinsync_events_queue, received_json

REGION = "us-east-1"
TABLE = "pinsync-state"
STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")


def _zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()


@dataclass
class Rotation:
    """A rotation in progress on moto, and the rotation function as Lambda runs it (decorators included), with retry
    waits recorded and the emulator's clock as its own (one notion of time)."""

    secret_arn: str
    function_arn: str
    events_queue_url: str
    seed: TokenSecret
    emulator: EmulatorServer
    waits: list[float] = field(default_factory=list)
    handler: Handler = field(init=False)

    def __post_init__(self) -> None:
        self.configure()

    def configure(self, **overrides: Any) -> None:
        """(Re)build the function with these settings, as a new cold start would."""
        values: dict[str, Any] = {
            "ad_account_id": DEFAULT_AD_ACCOUNT_ID,
            "pinterest_api_base_url": self.emulator.base_url,
            "event_bus_name": "default",
            "destination_name": "pinsync test",
        }
        runtime = build_runtime(
            RotationSettings.of(**(values | overrides)),
            RotationClients.create(),
            sleep=self.waits.append,
            clock=lambda: datetime.fromtimestamp(self.emulator.state.now(), UTC),
        )
        self.handler = instrumented()(runtime.handle)

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.handler(event, FakeContext())

    @staticmethod
    def client(service: str) -> Any:
        return boto3.client(service, region_name=REGION)

    def start(self) -> str:
        """What Secrets Manager does before invoking the function: a new version labelled AWSPENDING, no value."""
        secrets = self.client("secretsmanager")
        for version, stages in self.stages().items():
            if {AWSPENDING, AWSCURRENT} <= stages:
                # moto inverts AWS's "rotation still in progress" check and refuses to rotate when AWSPENDING
                # sits on AWSCURRENT's version (the normal end state); AWS itself accepts it.
                secrets.update_secret_version_stage(
                    SecretId=self.secret_arn, VersionStage=AWSPENDING, RemoveFromVersionId=version
                )
        answer = secrets.rotate_secret(
            SecretId=self.secret_arn, RotationLambdaARN=self.function_arn, RotationRules={"AutomaticallyAfterDays": 7}
        )
        return str(answer["VersionId"])

    def step(self, step: str, token: str, **extra: str) -> dict[str, Any]:
        event = {"Step": step, "SecretId": self.secret_arn, "ClientRequestToken": token, **extra}
        return self.invoke(event)

    def rotate(self, token: str | None = None) -> str:
        token = token or self.start()
        for step in STEPS:
            self.step(step, token)
        return token

    def at(self, stage: str, version_id: str | None = None) -> TokenSecret:
        params = {"SecretId": self.secret_arn, "VersionStage": stage}  # explicit stage: moto quirk
        if version_id:
            params["VersionId"] = version_id
        return TokenSecret.model_validate_json(self.client("secretsmanager").get_secret_value(**params)["SecretString"])

    def stages(self) -> dict[str, set[str]]:
        described = self.client("secretsmanager").describe_secret(SecretId=self.secret_arn)
        return {version: set(stages) for version, stages in described["VersionIdsToStages"].items()}

    def events(self) -> list[dict[str, Any]]:
        return received_json(self.client("sqs"), self.events_queue_url)


@pytest.fixture
def rotation(monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer) -> Iterator[Rotation]:
    fake_aws_environment(monkeypatch)
    with mock_aws(config={"lambda": {"use_docker": False}}):
        role = boto3.client("iam", region_name=REGION).create_role(RoleName="rotator", AssumeRolePolicyDocument="{}")[
            "Role"
        ]["Arn"]
        function_arn = boto3.client("lambda", region_name=REGION).create_function(
            FunctionName="rotator",
            Runtime="python3.12",
            Role=role,
            Handler="app.handler",
            Code={"ZipFile": _zip("def handler(event, context):\n    return None\n")},
        )["FunctionArn"]
        seed = seeded_token_secret(emulator)
        secret_arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name="pinsync/pinterest-token", SecretString=seed.to_secret_string()
        )["ARN"]
        queue_url = pinsync_events_queue("token-events")
        yield Rotation(secret_arn, function_arn, queue_url, seed, emulator)


def token_calls(emulator: EmulatorServer) -> int:
    return sum(1 for entry in emulator.state.requests_log if entry["path"] == "/v5/oauth/token")


def can_read_ad_account(emulator: EmulatorServer, access_token: str) -> bool:
    import requests

    response = requests.get(
        f"{emulator.base_url}/ad_accounts/{DEFAULT_AD_ACCOUNT_ID}",
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=10,
    )
    return response.status_code == 200


def refresh_works(emulator: EmulatorServer, secret: TokenSecret) -> bool:
    import requests

    response = requests.post(
        f"{emulator.base_url}/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": secret.refresh_token.get_secret_value()},
        auth=(secret.client_id, secret.client_secret.get_secret_value()),
        timeout=10,
    )
    return response.status_code == 200


def secret_values(*secrets: TokenSecret) -> list[str]:
    return [
        value.get_secret_value()
        for secret in secrets
        for value in (secret.access_token, secret.refresh_token, secret.client_secret)
    ]


# -- the happy path ---------------------------------------------------------------------------------------------


def test_four_steps_store_the_new_pair_and_the_old_refresh_token_is_revoked(rotation: Rotation, emulator):
    # Given a connected secret, a day later, and a rotation started by Secrets Manager
    emulator.state.advance_clock(86_400)
    token = rotation.start()

    # When the four steps run
    outcomes = [rotation.step(step, token)["outcome"] for step in STEPS]

    # Then AWSCURRENT holds a new access token, the NEW refresh token and their expiry, with the app credentials
    assert outcomes == ["succeeded", "skipped", "succeeded", "succeeded"]
    current = rotation.at(AWSCURRENT)
    seed = rotation.seed
    assert current.refresh_token != seed.refresh_token and current.access_token != seed.access_token
    assert (current.client_id, current.client_secret) == (seed.client_id, seed.client_secret)
    assert current.access_token_expires_at > seed.access_token_expires_at
    assert current.refresh_token_expires_at > seed.refresh_token_expires_at
    assert rotation.stages()[token] == {AWSCURRENT, AWSPENDING}
    assert AWSPREVIOUS in next(s for v, s in rotation.stages().items() if v != token)
    # and the emulator agrees: the new pair works, the old refresh token was revoked by the exchange
    assert can_read_ad_account(emulator, current.access_token.get_secret_value())
    assert refresh_works(emulator, current)
    assert not refresh_works(emulator, seed)
    assert token_calls(emulator) == 3  # rotation's refresh + the two probes just above


def test_each_step_replayed_calls_pinterest_once_and_ends_in_the_same_state(rotation: Rotation, emulator):
    token = rotation.start()

    for step in STEPS:
        first = rotation.step(step, token)
        again = rotation.step(step, token)
        assert again["outcome"] == "skipped" or (step == "testSecret" and again["outcome"] == "succeeded"), first

    assert token_calls(emulator) == 1
    assert rotation.stages()[token] == {AWSCURRENT, AWSPENDING}
    assert rotation.at(AWSCURRENT).refresh_token == rotation.at(AWSPENDING, token).refresh_token
    # a replayed createSecret after finish is a no-op too
    assert rotation.step("createSecret", token)["outcome"] == "skipped"
    assert token_calls(emulator) == 1


def test_two_rotations_in_a_row_chain_the_refresh_tokens(rotation: Rotation, emulator):
    rotation.rotate()
    first = rotation.at(AWSCURRENT)
    rotation.rotate()
    second = rotation.at(AWSCURRENT)

    assert second.refresh_token != first.refresh_token
    assert not refresh_works(emulator, first)
    assert refresh_works(emulator, second)


# -- failures leave AWSCURRENT untouched and usable ---------------------------------------------------------------


def assert_current_untouched(rotation: Rotation, emulator: EmulatorServer) -> None:
    current = rotation.at(AWSCURRENT)
    assert current == rotation.seed
    assert can_read_ad_account(emulator, current.access_token.get_secret_value())


def test_token_endpoint_5xx_at_create_fails_transiently_and_a_retry_succeeds(rotation: Rotation, emulator):
    emulator.state.inject("error", count=1, status=503, path_contains="/oauth/token")
    token = rotation.start()

    with pytest.raises(PinterestUnavailableError):
        rotation.step("createSecret", token)

    assert_current_untouched(rotation, emulator)
    assert rotation.stages()[token] == {AWSPENDING}
    # Secrets Manager retries the rotation with the same token: this time it works
    rotation.rotate(token)
    assert rotation.at(AWSCURRENT).refresh_token != rotation.seed.refresh_token


def test_revoked_refresh_token_is_a_distinct_reconnect_failure(rotation: Rotation, emulator):
    emulator.state.revoke_refresh_token(rotation.seed.refresh_token.get_secret_value())
    token = rotation.start()

    with pytest.raises(ReconnectRequiredError, match=r"reconnect: run `pinsync connect`") as raised:
        rotation.step("createSecret", token)

    assert raised.value.needs_reconnect is True
    assert_current_untouched(rotation, emulator)
    [event] = rotation.events()
    assert event["detail"]["outcome"] == "failed"
    assert event["detail"]["reason"] == "invalid_grant"
    assert event["detail"]["needs_reconnect"] is True
    assert "pinsync connect" in event["detail"]["message"]


def test_rotation_of_a_never_connected_secret_says_to_connect(rotation: Rotation, emulator):
    boto3.client("secretsmanager", region_name=REGION).put_secret_value(
        SecretId=rotation.secret_arn, SecretString='{"status": "not-connected"}'
    )
    token = rotation.start()

    with pytest.raises(NotConnectedError, match="pinsync connect"):
        rotation.step("createSecret", token)

    assert token_calls(emulator) == 0


@pytest.mark.parametrize("failure", ["5xx", "401", "unreadable-account", "read-only-user"])
def test_test_step_failure_keeps_current_and_finish_never_happens(rotation: Rotation, emulator, monkeypatch, failure):
    token = rotation.start()
    rotation.step("createSecret", token)
    rotation.step("setSecret", token)
    if failure == "5xx":
        emulator.state.inject("error", count=10, status=503, path_contains="/ad_accounts/")
        expected: type[RotationError] = PinterestUnavailableError
    elif failure == "401":
        # the new access token dies before the test; the seed token still has its own (valid) life
        pending = rotation.at(AWSPENDING, token)
        emulator.state._tokens.access_tokens[pending.access_token.get_secret_value()].revoked = True
        expected = PendingTokenRejectedError
    elif failure == "unreadable-account":
        rotation.configure(ad_account_id="123456789")
        expected = PendingTokenRejectedError
    else:  # the user was lowered to Analyst on the ad account since it connected
        emulator.state.configure(ad_account_permissions=["ANALYST"])
        expected = PendingTokenRejectedError

    with pytest.raises(expected):
        rotation.step("testSecret", token)

    emulator.state.clear_faults()
    assert_current_untouched(rotation, emulator)
    assert rotation.stages()[token] == {AWSPENDING}
    if failure == "5xx":
        assert len(rotation.waits) == 3  # bounded retries, waits recorded instead of slept


def test_a_second_rotation_with_another_token_is_refused_while_one_is_pending(rotation: Rotation, emulator):
    token = rotation.start()
    rotation.step("createSecret", token)
    pending = rotation.at(AWSPENDING, token)

    with pytest.raises(RotationStateError, match="not a version"):
        rotation.step("createSecret", str(uuid.uuid4()))
    previous = next(version for version, stages in rotation.stages().items() if AWSCURRENT in stages)
    assert rotation.step("createSecret", previous)["outcome"] == "skipped"  # AWSCURRENT's own token: nothing to do

    assert token_calls(emulator) == 1
    assert_current_untouched(rotation, emulator)
    assert rotation.at(AWSPENDING, token) == pending
    rotation.rotate(token)
    assert rotation.at(AWSCURRENT) == pending


def test_rotation_disabled_is_refused(rotation: Rotation, emulator):
    token = rotation.start()
    boto3.client("secretsmanager", region_name=REGION).cancel_rotate_secret(SecretId=rotation.secret_arn)

    with pytest.raises(RotationStateError, match="not enabled"):
        rotation.step("createSecret", token)

    assert token_calls(emulator) == 0


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_an_event_that_is_not_a_rotation_step_is_refused_without_echoing_it(rotation: Rotation):
    with pytest.raises(InvalidEventError) as raised:
        rotation.invoke({"Step": "dropTables", "SecretId": rotation.secret_arn, "RotationToken": "x" * 40})

    assert "x" * 40 not in str(raised.value)
    assert "Step" in str(raised.value)


# -- what it reports ----------------------------------------------------------------------------------------------


def emf_metrics(stdout: str) -> list[dict[str, Any]]:
    documents = [json.loads(line) for line in stdout.splitlines() if line.startswith("{") and '"_aws"' in line]
    return [document for document in documents if "ColdStart" not in document]


def test_every_run_emits_days_left_metrics_and_an_event_without_tokens(rotation: Rotation, emulator, capsys, caplog):
    caplog.set_level("DEBUG")
    token = rotation.start()

    rotation.rotate(token)

    out = capsys.readouterr().out
    documents = emf_metrics(out)
    assert len(documents) == 4
    for document in documents:
        [directive] = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "Pinsync"
        assert directive["Dimensions"] == [["service"]]
        names = {metric["Name"] for metric in directive["Metrics"]}
        assert {"AccessTokenDaysLeft", "RefreshTokenDaysLeft"} <= names
    # before finish the metric describes the seed token, after it the new one (30 / 60 days in the emulator)
    assert documents[-1]["AccessTokenDaysLeft"] == [pytest.approx(30, abs=0.1)]
    assert documents[-1]["RefreshTokenDaysLeft"] == [pytest.approx(60, abs=0.1)]

    events = rotation.events()
    assert [event["detail-type"] for event in events] == ["Token Rotation"] * 4
    assert {event["source"] for event in events} == {"pinsync"}
    assert [event["detail"]["step"] for event in events] == list(STEPS)
    finish = events[-1]["detail"]
    assert finish["outcome"] == "succeeded" and finish["rotated"] is True
    current = rotation.at(AWSCURRENT)
    assert finish["current"]["refresh_token_expires_at"] == current.model_dump(mode="json")["refresh_token_expires_at"]
    assert events[0]["detail"]["pending"]["access_token_expires_at"]

    everything = out + capsys.readouterr().err + caplog.text + json.dumps(events)
    leaked = [value for value in secret_values(rotation.seed, current) if value in everything]
    assert leaked == []
    assert "Rotation step done" in out  # the logs were captured, so the check above means something


def test_a_failed_run_also_reports_days_left_and_a_failure_metric(rotation: Rotation, emulator, capsys, caplog):
    caplog.set_level("DEBUG")
    emulator.state.revoke_refresh_token(rotation.seed.refresh_token.get_secret_value())

    with pytest.raises(ReconnectRequiredError):
        rotation.step("createSecret", rotation.start())

    out = capsys.readouterr().out
    [document] = emf_metrics(out)
    assert document["TokenRotationFailures"] == [1]
    assert document["AccessTokenDaysLeft"] == [pytest.approx(30, abs=0.1)]
    assert "needs_reconnect" in out
    leaked = [value for value in secret_values(rotation.seed) if value in out + caplog.text]
    assert leaked == []


def test_scheduled_expiry_check_reports_metrics_without_rotating(rotation: Rotation, emulator, capsys):
    result = rotation.invoke({"Check": "TokenExpiry", "SecretId": rotation.secret_arn})

    assert result == {"check": "TokenExpiry", "connected": True}
    [document] = emf_metrics(capsys.readouterr().out)
    assert document["RefreshTokenDaysLeft"] == [pytest.approx(60, abs=0.1)]
    assert token_calls(emulator) == 0
    assert rotation.events() == []


# -- consumers across a rotation -----------------------------------------------------------------------------------


@pytest.fixture
def sync_env(rotation: Rotation, emulator: EmulatorServer) -> Rotation:
    create_state_table(boto3.client("dynamodb", region_name=REGION), TABLE)
    return rotation


def sync_handler(rotation: Rotation, emulator: EmulatorServer) -> Handler:
    """The sync function reading the same token secret, its token cached for 5 minutes."""
    settings = SyncSettings.of(
        ad_account_id=DEFAULT_AD_ACCOUNT_ID,
        pinterest_api_base_url=emulator.base_url,
        token_secret_id=rotation.secret_arn,
        state_table_name=TABLE,
        destination_name="pinsync test",
        activated_audiences="*",
        token_cache_seconds=300,
    )
    return instrumented()(build_sync_runtime(settings, SyncClients.create(), sleep=rotation.waits.append).handle)


def test_sync_rereads_the_secret_once_after_a_rotation_between_invocations(sync_env: Rotation, emulator):
    # Given a first invocation that cached the seed access token
    _sync = sync_handler(sync_env, emulator)
    first = _sync(sqs_event(body(profile({"spring": "realized"}, email="a@example.com"))), FakeContext())
    assert first["batchItemFailures"] == []

    # When the seed access token expires and a rotation runs between two invocations
    emulator.state.expire_access_tokens()
    sync_env.rotate()
    emulator.state.clear_requests_log()
    second = _sync(sqs_event(body(profile({"spring": "realized"}, email="b@example.com"))), FakeContext())

    # Then the second invocation gets one 401, re-reads AWSCURRENT and succeeds with the new token
    assert second["batchItemFailures"] == []
    statuses = [entry["status"] for entry in emulator.state.requests_log]
    assert statuses.count(401) == 1
    assert statuses[-1] == 200
    [customer_list] = emulator.state.customer_lists()
    assert len(emulator.state.members(customer_list["id"])) == 2


@pytest.mark.parametrize("connected", [True, False], ids=["connected", "never-connected"])
@pytest.mark.parametrize("pending_value", [None, '{"status": "not-connected"}'], ids=["empty", "placeholder"])
def test_secrets_managers_configuration_test_alone_passes_without_a_failure(
    rotation: Rotation, emulator, capsys, connected, pending_value
):
    """RotateImmediately false (on deploy, or a new schedule): Secrets Manager runs testSecret alone, on a pending
    version createSecret never filled. That must not count as a failed rotation (no alert after every deploy)."""
    sm = rotation.client("secretsmanager")
    if not connected:
        sm.put_secret_value(SecretId=rotation.secret_arn, SecretString='{"status": "not-connected"}')
    token = rotation.start()
    if pending_value is not None:
        sm.put_secret_value(
            SecretId=rotation.secret_arn, ClientRequestToken=token, SecretString=pending_value,
            VersionStages=[AWSPENDING],
        )  # fmt: skip
    capsys.readouterr()

    assert rotation.step("testSecret", token) == {"step": "testSecret", "outcome": "skipped"}

    assert token_calls(emulator) == 0
    assert "TokenRotationFailures" not in capsys.readouterr().out
    assert [e["detail"]["outcome"] for e in rotation.events()] == ["skipped"]

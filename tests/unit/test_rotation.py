"""The rotation protocol over in-memory ports: guards, idempotent steps, failures that leave AWSCURRENT alone."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from pinsync.adapters.secretsmanager_token import SecretsManagerTokenSource
from pinsync.core.errors import (
    InvalidGrantError,
    PinterestAnswerError,
    PinterestAuthError,
    PinterestPermanentError,
    PinterestTransientError,
    SecretStoreError,
    TokenUnavailableError,
    VersionConflictError,
)
from pinsync.rotation.model import (
    AWSCURRENT,
    AWSPENDING,
    AWSPREVIOUS,
    NotConnectedError,
    PendingNotStoredError,
    PendingTokenRejectedError,
    PinterestUnavailableError,
    ReconnectRequiredError,
    RotationStateError,
    RotationStep,
    StepResult,
)
from pinsync.rotation.protocol import TokenRotationProtocol

from tests.builders import EPOCH
from tests.fakes.rotation import OLD, SECRET, TOKEN, FakeAccount, FakeOAuth, FakeSecretVersions, seed


def rotation(
    secrets: FakeSecretVersions | None = None, oauth: FakeOAuth | None = None, account: FakeAccount | None = None
) -> tuple[TokenRotationProtocol, FakeSecretVersions, FakeOAuth, FakeAccount]:
    secrets = secrets if secrets is not None else FakeSecretVersions.rotating()
    oauth = oauth or FakeOAuth()
    account = account or FakeAccount()
    return TokenRotationProtocol(secrets, oauth, account, clock=lambda: EPOCH), secrets, oauth, account


def run_all(use_case: TokenRotationProtocol, token: str = TOKEN) -> list[StepResult]:
    return [use_case.run(step, SECRET, token) for step in RotationStep]


def test_four_steps_rotate_the_token_and_keep_the_app_credentials():
    use_case, secrets, oauth, account = rotation()

    results = run_all(use_case)

    assert [r.changed for r in results] == [True, False, True, True]
    assert oauth.calls == ["pinr_old"]
    assert account.checked == ["pina_new1"]
    current = secrets.value_at(AWSCURRENT)
    assert current.refresh_token.get_secret_value() == "pinr_new1"
    assert current.access_token.get_secret_value() == "pina_new1"
    assert (current.client_id, current.client_secret.get_secret_value()) == ("app", "app-secret")
    assert current.access_token_expires_at == EPOCH + timedelta(days=30)
    assert current.refresh_token_expires_at == EPOCH + timedelta(days=60)
    assert secrets.stages == {OLD: {AWSPREVIOUS}, TOKEN: {AWSPENDING, AWSCURRENT}}
    assert results[0].pending is not None and results[0].pending.refresh_token_expires_at == EPOCH + timedelta(days=60)


def test_replayed_create_reuses_the_pending_value_without_calling_pinterest():
    use_case, secrets, oauth, _ = rotation()
    first = use_case.run(RotationStep.CREATE, SECRET, TOKEN)
    stored = secrets.values[TOKEN]

    again = use_case.run(RotationStep.CREATE, SECRET, TOKEN)

    assert (first.changed, again.changed) == (True, False)
    assert oauth.calls == ["pinr_old"]
    assert secrets.puts == [TOKEN]
    assert secrets.values[TOKEN] == stored
    assert again.pending == first.pending


@pytest.mark.parametrize("step", list(RotationStep))
def test_every_step_replayed_after_finish_is_a_no_op(step):
    use_case, secrets, oauth, account = rotation()
    run_all(use_case)
    before = (dict(secrets.values), {k: set(v) for k, v in secrets.stages.items()}, len(oauth.calls))

    result = use_case.run(step, SECRET, TOKEN)

    assert result.changed is False
    assert (secrets.values, secrets.stages, len(oauth.calls)) == before
    assert len(account.checked) == 1


def test_a_repeated_put_with_the_same_token_and_another_value_is_refused():
    # Given a pending value that a read does not see (a concurrent duplicate of the step, say)
    use_case, secrets, oauth, _ = rotation()
    use_case.run(RotationStep.CREATE, SECRET, TOKEN)
    secrets.hide_pending_once = True

    # When the step runs again, mints other tokens and tries to store them under the same token
    with pytest.raises(PendingNotStoredError, match="pinsync connect"):
        use_case.run(RotationStep.CREATE, SECRET, TOKEN)

    # Then the first pending value stays, and AWSCURRENT is untouched
    assert secrets.value_at(AWSPENDING).refresh_token.get_secret_value() == "pinr_new1"
    assert secrets.value_at(AWSCURRENT).refresh_token.get_secret_value() == "pinr_old"
    assert len(oauth.calls) == 2


def test_the_fake_refuses_like_aws_does():
    secrets = FakeSecretVersions.rotating()
    secrets.put_pending(SECRET, TOKEN, "one")
    secrets.put_pending(SECRET, TOKEN, "one")  # same value: idempotent
    with pytest.raises(VersionConflictError):
        secrets.put_pending(SECRET, TOKEN, "two")


@pytest.mark.parametrize(
    ("prepare", "message"),
    [
        (lambda s: setattr(s, "rotation_enabled", False), "not enabled"),
        (lambda s: s.stages.pop(TOKEN), "not a version"),
        (lambda s: s.stages[TOKEN].discard(AWSPENDING), "not AWSPENDING"),
    ],
    ids=["rotation-disabled", "unknown-token", "token-not-pending"],
)
@pytest.mark.parametrize("step", list(RotationStep))
def test_guard_refuses_every_step(prepare, message, step):
    use_case, secrets, oauth, account = rotation()
    prepare(secrets)

    with pytest.raises(RotationStateError, match=message):
        use_case.run(step, SECRET, TOKEN)

    assert oauth.calls == [] and account.checked == []
    assert secrets.stages[OLD] == {AWSCURRENT}


def test_finish_when_already_current_is_a_no_op():
    secrets = FakeSecretVersions(values={TOKEN: seed().to_secret_string()}, stages={TOKEN: {AWSCURRENT, AWSPENDING}})
    use_case, _, _, _ = rotation(secrets)

    result = use_case.run(RotationStep.FINISH, SECRET, TOKEN)

    assert result.changed is False
    assert secrets.stages == {TOKEN: {AWSCURRENT, AWSPENDING}}


@pytest.mark.parametrize(
    ("failure", "expected", "reconnect"),
    [
        (InvalidGrantError("invalid grant", status=401, code=283), ReconnectRequiredError, True),
        (PinterestTransientError("HTTP 503", status=503), PinterestUnavailableError, False),
        # 2xx, but not a token response: the refresh happened, so the old refresh token is likely spent
        (PinterestAnswerError("not a token response", status=200), PendingNotStoredError, True),
    ],
)
def test_token_endpoint_failure_leaves_current_untouched_and_nothing_pending(failure, expected, reconnect):
    use_case, secrets, _oauth, _ = rotation(oauth=FakeOAuth(failure=failure))

    with pytest.raises(expected) as raised:
        use_case.run(RotationStep.CREATE, SECRET, TOKEN)

    assert raised.value.needs_reconnect is reconnect
    assert secrets.values[TOKEN] is None and secrets.puts == []
    assert secrets.value_at(AWSCURRENT).refresh_token.get_secret_value() == "pinr_old"


def test_invalid_grant_says_a_person_must_run_pinsync_connect():
    use_case, _, _, _ = rotation(oauth=FakeOAuth(failure=InvalidGrantError("invalid grant", status=401, code=283)))

    with pytest.raises(ReconnectRequiredError, match=r"reconnect: run `pinsync connect`"):
        use_case.run(RotationStep.CREATE, SECRET, TOKEN)


@pytest.mark.parametrize("placeholder", ['{"status": "not-connected"}', "not json"])
def test_create_on_a_secret_that_was_never_connected(placeholder):
    use_case, _secrets, oauth, _ = rotation(FakeSecretVersions.rotating(placeholder))

    with pytest.raises(NotConnectedError, match="pinsync connect"):
        use_case.run(RotationStep.CREATE, SECRET, TOKEN)

    assert oauth.calls == []
    assert use_case.current_expiry(SECRET) is None


def test_put_failure_after_the_refresh_is_reported_as_needing_a_reconnect():
    secrets = FakeSecretVersions.rotating()
    secrets.put_failures.append(SecretStoreError("PutSecretValue failed (InternalServiceError)"))
    use_case, _, _, _ = rotation(secrets)

    with pytest.raises(PendingNotStoredError) as raised:
        use_case.run(RotationStep.CREATE, SECRET, TOKEN)

    assert raised.value.needs_reconnect is True
    assert "InternalServiceError" in str(raised.value)
    assert secrets.stages[OLD] == {AWSCURRENT}


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (PinterestAuthError("GET /ad_accounts/{id}: unauthorized", status=401, code=2), PendingTokenRejectedError),
        (PinterestPermanentError("GET /ad_accounts/{id}: HTTP 404", status=404, code=404), PendingTokenRejectedError),
        (PinterestTransientError("GET /ad_accounts/{id}: HTTP 503", status=503), PinterestUnavailableError),
    ],
)
def test_test_step_failure_keeps_current_and_the_pending_value(failure, expected):
    use_case, secrets, _, account = rotation(account=FakeAccount(failure=failure))
    use_case.run(RotationStep.CREATE, SECRET, TOKEN)
    use_case.run(RotationStep.SET, SECRET, TOKEN)

    with pytest.raises(expected):
        use_case.run(RotationStep.TEST, SECRET, TOKEN)

    assert secrets.value_at(AWSCURRENT).access_token.get_secret_value() == "pina_old"
    assert secrets.stages[TOKEN] == {AWSPENDING}
    # a retried rotation (same token) re-tests the stored pending value without a new refresh
    account.failure = None
    use_case.run(RotationStep.TEST, SECRET, TOKEN)
    use_case.run(RotationStep.FINISH, SECRET, TOKEN)
    assert secrets.value_at(AWSCURRENT).access_token.get_secret_value() == "pina_new1"


@pytest.mark.parametrize(
    ("answer", "named"),
    [
        ({"id": "549755885175", "permissions": ["ANALYST"]}, "has ANALYST on the ad account"),
        ({"id": "549755885175", "permissions": ["FINANCE_VIEW", "CAMPAIGN_MANAGER"]}, "Admin or Audience access"),
    ],
)
def test_a_new_token_whose_user_cannot_manage_audiences_fails_the_test_step(answer, named):
    # Given a user whose role on the ad account was lowered to read-only since the last connect
    use_case, secrets, _, _ = rotation(account=FakeAccount(answer=answer))
    use_case.run(RotationStep.CREATE, SECRET, TOKEN)
    # When the new token is tested, it reads the account but the rotation refuses it, saying what is missing
    with pytest.raises(PendingTokenRejectedError, match=named) as raised:
        use_case.run(RotationStep.TEST, SECRET, TOKEN)
    assert "cannot manage its audiences" in str(raised.value)
    assert secrets.value_at(AWSCURRENT).access_token.get_secret_value() == "pina_old"


def test_test_before_create_is_secrets_managers_configuration_test_and_is_skipped():
    # Only Secrets Manager's test of the rotation configuration (RotateImmediately false) runs testSecret on a
    # version createSecret never filled: nothing to check, and no failure to report.
    use_case, _, _, account = rotation()

    result = use_case.run(RotationStep.TEST, SECRET, TOKEN)

    assert (result.step, result.changed) == (RotationStep.TEST, False)
    assert account.checked == []


def test_finish_moves_current_and_reports_the_expiry_of_the_new_token():
    use_case, _secrets, _, _ = rotation()
    before = use_case.current_expiry(SECRET)
    assert before is not None and before.access_token_expires_at == EPOCH + timedelta(days=3)

    run_all(use_case)

    expiry = use_case.current_expiry(SECRET)
    assert expiry is not None
    assert expiry.access_token_expires_at == EPOCH + timedelta(days=30)
    assert expiry.refresh_token_expires_at == EPOCH + timedelta(days=60)


def test_error_messages_never_carry_token_values():
    secrets = FakeSecretVersions.rotating(seed(refresh="pinr_secretvalue"))
    use_case, _, _, _ = rotation(secrets, oauth=FakeOAuth(failure=InvalidGrantError("x", status=401, code=283)))

    with pytest.raises(ReconnectRequiredError) as raised:
        use_case.run(RotationStep.CREATE, SECRET, TOKEN)

    assert "pinr_" not in str(raised.value) and "app-secret" not in str(raised.value)


@pytest.mark.parametrize("absurd", [10**30, -5, 0, 10**9])
def test_an_absurd_expires_in_stores_the_new_tokens_with_the_documented_lifetimes(absurd):
    """The old refresh token is spent once Pinterest answered: an absurd lifetime must not lose the new tokens."""
    use_case, secrets, _, _ = rotation(oauth=FakeOAuth(expires_in=absurd, refresh_token_expires_in=absurd))

    result = use_case.run(RotationStep.CREATE, SECRET, TOKEN)

    assert result.changed is True
    stored = secrets.value_at(AWSPENDING)
    assert stored.refresh_token.get_secret_value() == "pinr_new1"
    assert stored.access_token_expires_at == EPOCH + timedelta(days=30)
    assert stored.refresh_token_expires_at == EPOCH + timedelta(days=60)


@pytest.mark.parametrize("instant", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_an_expiry_beyond_the_calendar_in_utc_is_a_malformed_secret_not_a_crash(instant):
    """Valid ISO 8601, but a year past 9999 (or before 1) once moved to UTC: the secret is malformed, which every step
    reports as not connected (with the failing field's name) instead of an OverflowError that skips the report."""
    document = json.loads(seed().to_secret_string()) | {"refresh_token_expires_at": instant}
    use_case, _, oauth, _ = rotation(FakeSecretVersions.rotating(json.dumps(document)))

    with pytest.raises(NotConnectedError, match="refresh_token_expires_at") as raised:
        use_case.run(RotationStep.CREATE, SECRET, TOKEN)

    assert instant not in str(raised.value)
    assert oauth.calls == []
    assert use_case.current_expiry(SECRET) is None


class _OneSecret:
    """The one boto3 call powertools' SecretsProvider makes, answering with a fixed document."""

    def __init__(self, value: str) -> None:
        self.value = value

    def get_secret_value(self, **params: str) -> dict[str, str]:
        return {"SecretString": self.value}


def test_the_sync_and_health_token_source_reports_an_expiry_beyond_the_calendar_as_unavailable():
    """The sync and health functions turn TokenUnavailableError into unauthorized work; an OverflowError failed the
    whole batch or check instead."""
    document = json.loads(seed().to_secret_string()) | {"access_token_expires_at": "9999-12-31T23:59:59-01:00"}
    source = SecretsManagerTokenSource("pinsync/token", boto3_client=_OneSecret(json.dumps(document)))

    with pytest.raises(TokenUnavailableError, match="access_token_expires_at"):
        source.access_token()

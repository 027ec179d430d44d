"""The door's TOKEN authorizer: Allow for the ingest token, Deny for another well-formed token or a malformed secret,
401 for a malformed header, a failed invocation (503, not cached) when the secret cannot be read, and the token never
in what it returns, raises or logs."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st
from pinsync.adapters.secretsmanager_ingest_token import IngestTokenUnavailableError, SecretsManagerIngestToken
from pinsync.ingest.authorizer import PRINCIPAL_ID, UNAUTHORIZED, UnauthorizedError, authorize, route_arn
from pinsync.ingest.door import RESOURCE, STAGE
from pinsync.ingest.runtime import IngestAuthorizerRuntime

TOKEN = "T0kenOfTheDoor" + "x" * 34
API_ARN = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5"
METHOD_ARN = f"{API_ARN}/{STAGE}/POST/{RESOURCE}"


def event(header: object, method_arn: object = METHOD_ARN) -> dict[str, object]:
    return {"type": "TOKEN", "authorizationToken": header, "methodArn": method_arn}


def statement(policy: dict[str, object]) -> dict[str, object]:
    [only] = policy["policyDocument"]["Statement"]  # type: ignore[index]
    return only  # type: ignore[no-any-return]


def test_the_ingest_token_is_allowed_on_the_route_of_this_api() -> None:
    policy = authorize(event(f"Bearer {TOKEN}"), TOKEN)

    assert policy["principalId"] == PRINCIPAL_ID
    assert statement(policy) == {
        "Action": "execute-api:Invoke",
        "Effect": "Allow",
        "Resource": f"{API_ARN}/{STAGE}/POST/{RESOURCE}",
    }


def test_the_allowed_route_does_not_depend_on_the_method_arn_of_the_first_request() -> None:
    # API Gateway caches the policy per token and applies it to later requests: it names the route, not a request.
    assert route_arn(f"{API_ARN}/{STAGE}/GET/other/path") == f"{API_ARN}/{STAGE}/POST/{RESOURCE}"
    assert route_arn(f"arn:aws-us-gov:execute-api:us-gov-west-1:123456789012:abc/{STAGE}/POST/{RESOURCE}") == (
        f"arn:aws-us-gov:execute-api:us-gov-west-1:123456789012:abc/{STAGE}/POST/{RESOURCE}"
    )


@pytest.mark.parametrize(
    "presented",
    [TOKEN + "y", TOKEN[:-1], TOKEN.upper(), "a" * 48, TOKEN[::-1], "x"],
)
def test_another_well_formed_token_is_denied(presented: str) -> None:
    policy = authorize(event(f"Bearer {presented}"), TOKEN)

    assert statement(policy)["Effect"] == "Deny"
    assert statement(policy)["Resource"] == f"{API_ARN}/{STAGE}/POST/{RESOURCE}"


def test_the_scheme_is_case_insensitive_and_may_be_followed_by_several_spaces() -> None:
    assert statement(authorize(event(f"bEaReR    {TOKEN}"), TOKEN))["Effect"] == "Allow"


@pytest.mark.parametrize("expected", [None, "", "short"])
def test_without_a_usable_expected_token_everything_is_denied(expected: str | None) -> None:
    # A broken secret (unreadable, emptied, too short) opens nothing, not even for the same value.
    presented = expected or TOKEN
    assert statement(authorize(event(f"Bearer {presented}"), expected))["Effect"] == "Deny"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        " ",
        "Bearer",
        "Bearer ",
        f"Basic {TOKEN}",
        f"Token {TOKEN}",
        f"Bearer{TOKEN}",
        f" Bearer {TOKEN}",
        f"Bearer {TOKEN} ",
        f"Bearer {TOKEN}\n",
        f"Bearer {TOKEN} {TOKEN}",
        f"Bearer\t{TOKEN}",
        f"Bearer {TOKEN[:10]}ü{TOKEN[10:]}",
        f"Bearer {TOKEN}\u200b",
        "Bearer " + "😀" * 40,
        "Bearer " + "A" * 1_048_576 + "!",
        " " * 1_048_576,
        12345,
        ["Bearer", TOKEN],
    ],
    ids=lambda header: repr(header)[:40],
)
def test_a_missing_or_malformed_header_is_401(header: object) -> None:
    with pytest.raises(UnauthorizedError) as raised:
        authorize(event(header), TOKEN)

    assert str(raised.value) == UNAUTHORIZED == "Unauthorized"  # the exact message API Gateway maps to 401
    assert raised.value.args == ("Unauthorized",)


def test_no_header_at_all_is_401() -> None:
    with pytest.raises(UnauthorizedError):
        authorize({"type": "TOKEN", "methodArn": METHOD_ARN}, TOKEN)


def test_a_huge_well_formed_token_is_denied_not_allowed() -> None:
    huge = "A" * 1_048_576
    policy = authorize(event(f"Bearer {huge}"), TOKEN)

    assert statement(policy)["Effect"] == "Deny"
    assert huge[:64] not in json.dumps(policy)


@pytest.mark.parametrize("method_arn", [None, "", "arn:aws:execute-api:us-east-1:123:abc", "*", 7, "not an arn/x/y"])
def test_an_unexpected_method_arn_is_denied_everywhere_even_with_the_right_token(method_arn: object) -> None:
    policy = authorize(event(f"Bearer {TOKEN}", method_arn), TOKEN)

    assert statement(policy) == {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": "*"}


@given(presented=st.from_regex(r"[-A-Za-z0-9._~+/]{1,80}=*", fullmatch=True), expected=st.sampled_from([TOKEN, None]))
def test_the_token_is_never_in_the_policy(presented: str, expected: str | None) -> None:
    policy = authorize(event(f"Bearer {presented}"), expected)
    text = json.dumps(policy)

    if len(presented) >= 8:  # shorter strings can occur in the ARN by chance
        assert presented not in text
    assert TOKEN not in text
    assert set(policy) == {"principalId", "policyDocument"}


@given(st.text(max_size=300))
def test_any_header_gives_a_policy_or_unauthorized_never_another_error(header: str) -> None:
    try:
        policy = authorize(event(header), TOKEN)
    except UnauthorizedError as error:
        assert str(error) == "Unauthorized"
    else:
        assert statement(policy)["Effect"] in {"Allow", "Deny"}
        assert (statement(policy)["Effect"] == "Allow") == (header.split()[-1:] == [TOKEN])


# -- the token secret: unreadable fails the invocation (503, not cached), malformed denies (403) ------------------------


class FakeSecretsManager:
    """``get_secret_value`` answering a secret string or raising a client error, counting the calls."""

    def __init__(self, answer: str | ClientError) -> None:
        self.answer = answer
        self.calls = 0

    def get_secret_value(self, **_: object) -> dict[str, str]:
        self.calls += 1
        if isinstance(self.answer, ClientError):
            raise self.answer
        return {"SecretString": self.answer}


def client_error(code: str) -> ClientError:
    # The SDK's text names the operation (and, for some codes, the secret id), never the value; it is not logged.
    return ClientError({"Error": {"Code": code, "Message": f"{code} for {TOKEN}"}}, "GetSecretValue")


def runtime_with(answer: str | ClientError) -> tuple[IngestAuthorizerRuntime, FakeSecretsManager]:
    client = FakeSecretsManager(answer)
    return IngestAuthorizerRuntime(tokens=SecretsManagerIngestToken("ingest-token", boto3_client=client)), client


@pytest.mark.parametrize(
    "code", ["ThrottlingException", "AccessDeniedException", "ResourceNotFoundException", "InternalServiceError"]
)
def test_an_unreadable_secret_fails_the_invocation_instead_of_denying(
    code: str, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    runtime, _ = runtime_with(client_error(code))

    with pytest.raises(IngestTokenUnavailableError) as raised:
        runtime.handle(event(f"Bearer {TOKEN}"))

    # API Gateway puts the message in $context.authorizer.error (the access log): fixed, no value, no SDK text.
    assert str(raised.value) == IngestTokenUnavailableError.MESSAGE
    assert raised.value.__cause__ is None and raised.value.__context__ is None
    assert not isinstance(raised.value, UnauthorizedError)  # "Unauthorized" would be a 401
    output = capsys.readouterr().out + caplog.text
    [line] = [json.loads(x) for x in output.splitlines() if x.startswith("{") and '"ERROR"' in x]
    assert line["message"] == "cannot read the ingest token secret; failing the invocation"
    assert (line["error"], line["error_code"]) == ("GetParameterError", code)
    assert TOKEN not in output and TOKEN[:16] not in output


def test_an_unreadable_secret_is_asked_again_on_the_next_invocation() -> None:
    runtime, client = runtime_with(client_error("ThrottlingException"))
    with pytest.raises(IngestTokenUnavailableError):
        runtime.handle(event(f"Bearer {TOKEN}"))

    client.answer = json.dumps({"token": TOKEN})  # Secrets Manager is back: no failure was cached
    assert statement(runtime.handle(event(f"Bearer {TOKEN}")))["Effect"] == "Allow"
    assert client.calls == 2


@pytest.mark.parametrize(
    "secret",
    ["not json", "{}", json.dumps({"token": "short"}), json.dumps([TOKEN]), json.dumps({"tok": TOKEN})],
)
def test_a_malformed_secret_still_denies_everything_without_the_value(
    secret: str, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    runtime, _ = runtime_with(secret)

    for presented in (TOKEN, "short" * 8):
        assert statement(runtime.handle(event(f"Bearer {presented}")))["Effect"] == "Deny"

    output = capsys.readouterr().out + caplog.text
    assert "the ingest token secret is malformed; denying every request" in output
    assert TOKEN not in output and "not json" not in output


@pytest.mark.parametrize(
    "token",
    [
        TOKEN + "!",  # a password generator's punctuation: API Gateway's IdentityValidationExpression 401s it first
        "a" * 20 + " " + "a" * 20,
        "=" + TOKEN,  # padding only at the end
        "\ud800" + TOKEN,  # a lone surrogate (JSON may escape one): cannot even be encoded to compare
        "é" * 40,
    ],
)
def test_a_secret_token_no_authorization_header_can_carry_is_malformed(
    token: str, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """docs/ingest.md has a person put their own token: one outside RFC 6750's b64token characters (BEARER_PATTERN)
    can never be presented, so it is reported as the malformed field it is and everything is denied, never a crash."""
    runtime, _ = runtime_with(json.dumps({"token": token}))

    assert statement(runtime.handle(event(f"Bearer {TOKEN}")))["Effect"] == "Deny"

    output = capsys.readouterr().out + caplog.text
    [line] = [json.loads(x) for x in output.splitlines() if x.startswith("{") and '"ERROR"' in x]
    assert line["message"] == "the ingest token secret is malformed; denying every request"
    assert line["problem_fields"] == ["token"]
    assert TOKEN not in output

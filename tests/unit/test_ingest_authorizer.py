"""The door's TOKEN authorizer: Allow for the ingest token, Deny for another well-formed token, 401 otherwise, and
the token never in what it returns or raises."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pinsync.ingest.authorizer import PRINCIPAL_ID, UNAUTHORIZED, UnauthorizedError, authorize, route_arn
from pinsync.ingest.door import RESOURCE, STAGE

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

"""The Pinterest client under transport failures that are not plain connection errors or timeouts.

A body cut off mid-way raises ``ChunkedEncodingError`` from ``requests``; before the client mapped every
``RequestException`` to a transient error, it escaped the handler and failed the whole batch.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import requests
import responses
from pinsync.adapters.pinterest_ads import PinterestClient
from pinsync.adapters.pinterest_oauth import PinterestOAuthClient, StaticToken
from pinsync.core.deadline import Deadline
from pinsync.core.errors import (
    InvalidGrantError,
    PinterestAnswerError,
    PinterestRejectedError,
    PinterestTransientError,
)
from pinsync.core.observability import NO_METRICS
from pinsync.sync.membership import Operation
from pydantic import SecretStr

BASE = "https://api.pinterest.example/v5"
LISTS = f"{BASE}/ad_accounts/123/customer_lists"


def client(waits: list[float], remaining: Callable[[], float] = lambda: 60.0) -> PinterestClient:
    return PinterestClient(
        base_url=BASE,
        ad_account_id="123",
        tokens=StaticToken("token"),
        session=requests.Session(),
        deadline=Deadline(remaining),
        sleep=waits.append,
        rng=random.Random(1),
        metrics=NO_METRICS,
    )


@responses.activate
def test_a_body_cut_off_mid_way_is_retried_like_a_connection_error():
    responses.add(responses.PATCH, f"{LISTS}/77", body=requests.exceptions.ChunkedEncodingError("cut off"))
    responses.add(responses.PATCH, f"{LISTS}/77", json={"id": "77"}, status=200)
    waits: list[float] = []

    client(waits).update_customer_list("77", Operation.ADD, ["a" * 64])

    assert len(responses.calls) == 2 and len(waits) == 1


@responses.activate
def test_a_create_cut_off_mid_way_is_transient_and_not_repeated():
    responses.add(responses.POST, LISTS, body=requests.exceptions.ChunkedEncodingError("cut off"))

    with pytest.raises(PinterestTransientError):
        client([]).create_customer_list("dest seg", ["a" * 64])
    assert len(responses.calls) == 1  # not idempotent: the caller keeps the lease and finds the list by name


@responses.activate
def test_a_create_answered_without_an_id_is_transient_not_a_crash():
    responses.add(responses.POST, LISTS, body="", status=200)

    with pytest.raises(PinterestTransientError, match="without a valid id"):
        client([]).create_customer_list("dest seg", ["a" * 64])


TOKEN_URL = f"{BASE}/oauth/token"


@responses.activate
@pytest.mark.parametrize(
    ("status", "code", "says"),
    [
        (401, 283, "expired, revoked or already used"),  # as Pinterest is reported to answer a dead refresh token
        (400, 283, "expired, revoked or already used"),
        (401, 2, "check the client id and secret"),
    ],
)
def test_token_endpoint_refusals_name_the_right_cause(status: int, code: int, says: str):
    responses.add(responses.POST, TOKEN_URL, json={"code": code, "message": "refused"}, status=status)

    with pytest.raises(InvalidGrantError, match=says) as raised:
        PinterestOAuthClient(base_url=BASE, session=requests.Session()).refresh("client", "secret", "pinr_x")
    assert "pinr_x" not in str(raised.value)  # never the token


@responses.activate
def test_a_token_answer_cut_off_mid_way_is_transient():
    responses.add(responses.POST, TOKEN_URL, body=requests.exceptions.ChunkedEncodingError("cut off"))

    with pytest.raises(PinterestTransientError):
        PinterestOAuthClient(base_url=BASE, session=requests.Session()).refresh("client", "secret", "pinr_x")


# -- answers that break the contract: a transient failure of the work that needed them, never a crash or a hang ----

DEEP = "[" * 100_000 + "]" * 100_000  # deeper than any JSON parser recurses


@responses.activate
@pytest.mark.parametrize(
    "page",
    [
        {"items": {"id": "1", "name": "dest seg"}},  # items is not a list
        {"items": ["dest seg"]},  # an item that is not an object
        {"items": [{"name": "dest seg"}]},  # the item of that name has no id
        {"items": [{"name": "dest seg", "id": True}]},
        {"items": [{"name": "dest seg", "id": "12a"}]},
        {"items": [], "bookmark": 7},
    ],
    ids=["items-object", "item-string", "no-id", "id-true", "id-not-digits", "bookmark-number"],
)
def test_a_list_page_that_breaks_the_contract_is_an_answer_error(page):
    responses.add(responses.GET, LISTS, json=page)

    with pytest.raises(PinterestAnswerError):
        client([]).find_customer_list("dest seg")


@responses.activate
def test_a_bookmark_that_repeats_forever_ends_the_search():
    responses.add(responses.GET, LISTS, json={"items": [{"id": "1", "name": "other"}], "bookmark": "same"})

    with pytest.raises(PinterestAnswerError, match="bookmark repeats"):
        client([]).find_customer_list("dest seg")
    assert len(responses.calls) == 2  # the first page, and the one that repeated its bookmark


@responses.activate
def test_paging_stops_when_the_invocation_runs_out_of_time():
    pages = iter(range(1_000_000))
    responses.add_callback(
        responses.GET,
        LISTS,
        callback=lambda request: (200, {}, json.dumps({"items": [], "bookmark": f"b{next(pages)}"})),
    )
    # seconds left: plenty for three pages, then 5.5 (the deadline keeps 5 in reserve: too little for another page)
    remaining = lambda: 60.0 if len(responses.calls) < 3 else 5.5  # noqa: E731

    with pytest.raises(PinterestTransientError, match="out of time"):
        client([], remaining=remaining).find_customer_list("dest seg")
    assert len(responses.calls) == 3


@responses.activate
@pytest.mark.parametrize(("body", "status"), [(DEEP, 200), ("[1, 2]", 200), ("<html>proxy</html>", 200)])
def test_a_body_that_is_not_a_json_object_is_an_answer_error_not_a_crash(body, status):
    responses.add(responses.GET, LISTS, body=body, status=status)

    with pytest.raises(PinterestAnswerError):
        client([]).find_customer_list("dest seg")


@responses.activate
def test_an_error_answer_nested_too_deep_is_still_classified():
    responses.add(responses.PATCH, f"{LISTS}/77", body=DEEP, status=400)

    with pytest.raises(PinterestRejectedError) as raised:
        client([]).update_customer_list("77", Operation.ADD, ["a" * 64])
    assert raised.value.code is None


@responses.activate
def test_a_patch_answered_2xx_is_applied_whatever_its_body():
    responses.add(responses.PATCH, f"{LISTS}/77", body=DEEP, status=200)

    client([]).update_customer_list("77", Operation.ADD, ["a" * 64])  # no error: Pinterest applied it


@responses.activate
@pytest.mark.parametrize("body", [DEEP, "[]", '{"access_token": "pina_x"}', "not json"])
def test_a_2xx_token_answer_that_is_not_one_is_an_answer_error(body):
    responses.add(responses.POST, TOKEN_URL, body=body, status=200)

    with pytest.raises(PinterestAnswerError) as raised:
        PinterestOAuthClient(base_url=BASE, session=requests.Session()).refresh("client", "secret", "pinr_x")
    assert "pina_x" not in str(raised.value)


@responses.activate
@pytest.mark.parametrize(
    "lifetimes",
    [
        {"expires_in": 1e308, "refresh_token_expires_in": 1e308},  # JSON numbers, not integers
        {"expires_in": 2592000.5, "refresh_token_expires_in": "sixty days"},
        {"expires_in": None, "refresh_token_expires_in": True},
        {"expires_in": [], "refresh_token_expires_in": {}},
        {"expires_in": 2592000},  # the spec's authorization-code answer may leave refresh_token_expires_in out
    ],
)
def test_a_token_answer_with_unusable_lifetimes_keeps_its_tokens_with_the_documented_lifetimes(lifetimes):
    """Pinterest has spent the old refresh token once it answered 2xx with a new pair: a lifetime that is not a whole
    number of seconds must not throw the pair away (as an absurd whole number already does not)."""
    answer = {"access_token": "pina_new", "refresh_token": "pinr_new", "scope": "ads:read,ads:write", **lifetimes}
    responses.add(responses.POST, TOKEN_URL, body=json.dumps(answer), status=200)

    grant = PinterestOAuthClient(base_url=BASE, session=requests.Session()).refresh("client", "secret", "pinr_x")

    now = datetime(2026, 1, 1, tzinfo=UTC)
    stored = grant.to_secret("client", SecretStr("secret"), now, "ads:read,ads:write")
    assert stored.refresh_token.get_secret_value() == "pinr_new"
    assert stored.access_token_expires_at - now in (timedelta(days=30), timedelta(seconds=2592000))
    assert stored.refresh_token_expires_at - now == timedelta(days=60)


@responses.activate
@pytest.mark.parametrize("scope", [None, ["ads:read", "ads:write"], {"ads": "write"}, 7, True])
def test_a_token_answer_whose_scope_is_no_string_keeps_its_tokens_with_the_scope_asked_for(scope):
    """As with the lifetimes: the old refresh token is spent once Pinterest answered 2xx, so a scope of another type
    than the spec's string must not throw the new pair away."""
    answer = {"access_token": "pina_new", "refresh_token": "pinr_new", "expires_in": 2592000, "scope": scope}
    responses.add(responses.POST, TOKEN_URL, body=json.dumps(answer), status=200)

    grant = PinterestOAuthClient(base_url=BASE, session=requests.Session()).refresh("client", "secret", "pinr_x")

    stored = grant.to_secret("client", SecretStr("secret"), datetime(2026, 1, 1, tzinfo=UTC), "ads:read,ads:write")
    assert stored.refresh_token.get_secret_value() == "pinr_new"
    assert stored.scope == "ads:read,ads:write"

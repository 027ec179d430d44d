"""The Pinterest client under transport failures that are not plain connection errors or timeouts.

A body cut off mid-way raises ``ChunkedEncodingError`` from ``requests``; before the client mapped every
``RequestException`` to a transient error, it escaped the handler and failed the whole batch.
"""

from __future__ import annotations

import random

import pytest
import requests
import responses
from pinsync.adapters.pinterest_ads import PinterestClient
from pinsync.adapters.pinterest_oauth import PinterestOAuthClient, StaticToken
from pinsync.core.deadline import Deadline
from pinsync.core.errors import InvalidGrantError, PinterestTransientError
from pinsync.core.observability import NO_METRICS
from pinsync.sync.membership import Operation

BASE = "https://api.pinterest.example/v5"
LISTS = f"{BASE}/ad_accounts/123/customer_lists"


def client(waits: list[float]) -> PinterestClient:
    return PinterestClient(
        base_url=BASE,
        ad_account_id="123",
        tokens=StaticToken("token"),
        session=requests.Session(),
        deadline=Deadline(lambda: 60.0),
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

    with pytest.raises(PinterestTransientError, match="without an id"):
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

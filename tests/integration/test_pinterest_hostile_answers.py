"""The Pinterest clients against answers no Pinterest should give: redirects, bodies too large or too slow to read
whole, ids and error codes outside the spec's shapes. Each must end in a typed error the use case decides on (retry,
isolate, exclude), never in records or a token sent elsewhere, memory filled, or an invocation held past its
deadline."""

from __future__ import annotations

import io
import random
import traceback
import tracemalloc
import zlib
from collections.abc import Callable
from typing import Any

import pytest
import requests
import responses
from pinsync.adapters.pinterest_ads import PinterestClient
from pinsync.adapters.pinterest_oauth import PinterestOAuthClient, StaticToken
from pinsync.core.deadline import Deadline
from pinsync.core.errors import PinterestAnswerError, PinterestRejectedError, PinterestTransientError
from pinsync.core.observability import NO_METRICS
from pinsync.sync.membership import Operation

from tests.integration.test_pinterest_client_failures import BASE, LISTS
from tests.integration.test_pinterest_client_failures import client as recording_client

ELSEWHERE = "https://elsewhere.example/collect"


def client(remaining: Callable[[], float] = lambda: 60.0) -> PinterestClient:
    """The client of the failure tests, its waits taken and not slept."""
    return recording_client([], remaining)


# -- redirects: Pinterest's API answers none (the spec lists 200 and its error object); requests follows them --------


@responses.activate
@pytest.mark.parametrize("status", [301, 302, 303])
def test_a_redirected_patch_is_not_taken_as_applied(status: int):
    """requests turns a PATCH redirected with 301/302/303 into a GET of the new location: its 200 is no update."""
    responses.add(responses.PATCH, f"{LISTS}/77", status=status, headers={"Location": ELSEWHERE})
    responses.add(responses.GET, ELSEWHERE, json={"id": "77"})

    with pytest.raises(PinterestTransientError):  # ambiguous: the use case marks its records uncertain
        client().update_customer_list("77", Operation.ADD, ["a" * 64])
    assert [call.request.url for call in responses.calls] == [f"{LISTS}/77"]


@responses.activate
@pytest.mark.parametrize("status", [307, 308])
def test_a_redirected_create_never_sends_the_records_elsewhere(status: int):
    """307 and 308 keep the method and the body: the records would go to the other host, its id taken as the list's."""
    responses.add(responses.POST, LISTS, status=status, headers={"Location": ELSEWHERE})
    responses.add(responses.POST, ELSEWHERE, json={"id": "5"})

    with pytest.raises(PinterestTransientError):  # ambiguous, as a create: the caller keeps the lease, finds by name
        client().create_customer_list("dest seg", ["a" * 64])
    assert [call.request.url for call in responses.calls] == [LISTS]


@responses.activate
def test_a_redirected_token_refresh_never_sends_the_refresh_token_elsewhere():
    responses.add(responses.POST, f"{BASE}/oauth/token", status=307, headers={"Location": ELSEWHERE})
    responses.add(responses.POST, ELSEWHERE, json={"access_token": "pina_x", "refresh_token": "pinr_y"})

    with pytest.raises(PinterestTransientError) as raised:
        PinterestOAuthClient(base_url=BASE, session=requests.Session()).refresh("client", "secret", "pinr_x")
    assert [call.request.url for call in responses.calls] == [f"{BASE}/oauth/token"]
    assert "pinr_x" not in str(raised.value)
    # not an answer error: the rotation reads that as "a 2xx, the old refresh token is likely spent"
    assert not isinstance(raised.value, PinterestAnswerError)


# -- bodies: read as they come, within a bound and the invocation's time -------------------------------------------


def gzip_bomb(megabytes: int) -> bytes:
    """A JSON object whose gzip encoding is about a thousandth of its size."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: the gzip container
    pad = b"A" * (1 << 20)
    chunks = [compressor.compress(b'{"items": [], "pad": "')]
    chunks += [compressor.compress(pad) for _ in range(megabytes)]
    chunks.append(compressor.compress(b'"}') + compressor.flush())
    return b"".join(chunks)


@responses.activate
@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (lambda: b'{"items": [], "pad": "' + b"A" * (50 << 20) + b'"}', {}),
        (lambda: gzip_bomb(200), {"Content-Encoding": "gzip"}),
    ],
    ids=["50-MB", "gzip-bomb"],
)
def test_an_answer_too_large_is_an_answer_error_and_is_never_held_whole(
    body: Callable[[], bytes], headers: dict[str, str]
):
    responses.add(responses.GET, LISTS, body=body(), headers=headers)  # built here: not held for the whole session
    tracemalloc.start()
    try:
        with pytest.raises(PinterestAnswerError, match="larger than"):
            client().find_customer_list("dest seg")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 << 20


@responses.activate
def test_an_error_answer_too_large_is_classified_without_its_code():
    responses.add(
        responses.PATCH, f"{LISTS}/77", body=b'{"code": 2, "message": "' + b"x" * (8 << 20) + b'"}', status=400
    )

    with pytest.raises(PinterestRejectedError) as raised:
        client().update_customer_list("77", Operation.ADD, ["a" * 64])
    assert raised.value.code is None


class Trickle(io.RawIOBase):
    """A body that arrives a byte at a time, each a second after the last (within any socket timeout)."""

    def __init__(self, body: bytes, clock: list[float]) -> None:
        self._body = io.BytesIO(body)
        self._clock = clock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        byte = self._body.read(1)
        if byte:
            self._clock[0] += 1.0
            buffer[0] = byte[0]
        return len(byte)


@responses.activate
def test_an_answer_that_trickles_in_stops_at_the_invocation_deadline():
    """requests' timeout bounds each read of the socket, not the body: a byte every few seconds reads forever."""
    clock = [0.0]
    body = b'{"items": [], "pad": "' + b"A" * 500 + b'"}'
    responses.add(
        responses.GET, LISTS, body=io.BufferedReader(Trickle(body, clock)), auto_calculate_content_length=False
    )

    with pytest.raises(PinterestTransientError, match="out of time"):
        client(remaining=lambda: 60.0 - clock[0]).find_customer_list("dest seg")
    assert clock[0] <= 60.0 - 5.0 + 1.0  # the deadline's reserve kept, but for one read


# -- ids and error codes outside the spec's shapes -------------------------------------------------------------------


@responses.activate
@pytest.mark.parametrize("identifier", ["123\n", "\u0661\u0662\u0663", "1" * 1000, 12.0, -5])
def test_an_id_outside_the_spec_pattern_is_no_id(identifier: object):
    """The spec's ``^\\d+$`` is an ECMA-262 pattern: ASCII digits, and ``$`` ends the string (Python's ``$`` also
    matches before a final newline, and its ``\\d`` takes any Unicode digit)."""
    responses.add(responses.POST, LISTS, json={"id": identifier})

    with pytest.raises(PinterestTransientError, match="without a valid id"):
        client().create_customer_list("dest seg", ["a" * 64])


@responses.activate
@pytest.mark.parametrize("code", [True, 10**30, "2", None, 1.5])
def test_an_error_code_that_is_no_plausible_integer_is_no_code(code: object):
    """The code names the exclusion reason, a metric dimension: never ``True`` nor 31 digits."""
    responses.add(responses.PATCH, f"{LISTS}/77", json={"code": code, "message": "bad"}, status=400)

    with pytest.raises(PinterestRejectedError) as raised:
        client().update_customer_list("77", Operation.ADD, ["a" * 64])
    assert raised.value.code is None


# -- an update accepted on a retry: the attempt before it may still land --------------------------------------------


@responses.activate
@pytest.mark.parametrize(
    ("first", "retried"),
    [
        (requests.exceptions.ReadTimeout("no answer"), True),  # sent, unanswered: Pinterest may be applying it
        (requests.exceptions.ConnectionError("reset"), True),
        ({"status": 503}, True),
        ({"status": 429}, False),  # refused before anything was applied
        ({"status": 401}, False),
        (None, False),
    ],
    ids=["read-timeout", "reset", "503", "429", "401", "none"],
)
def test_an_update_says_whether_an_ambiguous_attempt_preceded_the_accepted_one(first: object, retried: bool):
    if isinstance(first, Exception):
        responses.add(responses.PATCH, f"{LISTS}/77", body=first)
    elif isinstance(first, dict):
        responses.add(responses.PATCH, f"{LISTS}/77", json={"code": 1, "message": "x"}, status=first["status"])
    responses.add(responses.PATCH, f"{LISTS}/77", json={"id": "77"})

    assert client().update_customer_list("77", Operation.ADD, ["a" * 64]) is retried


# -- a page without its required items: no evidence that the name is free ---------------------------------------


@responses.activate
@pytest.mark.parametrize("body", ["", "{}", '{"bookmark": null}', '{"items": null}'])
def test_a_list_page_without_items_is_an_answer_error_not_a_name_that_is_free(body: str):
    """The spec's Paginated requires ``items``. Read as an empty page, such an answer said "no list of that name", and
    the caller created a second list (or, after a failed creation, skipped removals as if no list existed)."""
    responses.add(responses.GET, LISTS, body=body, status=200)

    with pytest.raises(PinterestAnswerError):
        client().find_customer_list("dest seg")


# -- what an error carries: never the token, even in the exception it was raised from ----------------------------


@responses.activate
def test_a_token_requests_refuses_to_send_never_reaches_the_traceback():
    """requests refuses a header value with a line break, quoting it whole (``Bearer <token>``) in its exception. The
    client's error names the exception type only; the exception it was raised while handling must not be shown with
    it (a traceback prints the chain: the CLI's, a test's, a logger's ``exc_info``)."""
    pinterest = PinterestClient(
        base_url=BASE,
        ad_account_id="123",
        tokens=StaticToken("pina_secret\r\n"),
        session=requests.Session(),
        deadline=Deadline(lambda: 60.0),
        sleep=lambda _seconds: None,
        rng=random.Random(1),
        metrics=NO_METRICS,
    )

    with pytest.raises(PinterestTransientError) as raised:
        pinterest.update_customer_list("77", Operation.ADD, ["a" * 64])
    assert "pina_secret" not in "".join(traceback.format_exception(raised.value))


@responses.activate
def test_an_interim_answer_taken_for_the_final_one_is_ambiguous_not_a_refusal():
    """http.client skips a 100 Continue only: a 103 Early Hints comes back as the status, the final answer unread.
    The PATCH was received and may be applied: transient (ambiguous), not ``pinterest_refused`` (nothing applied)."""
    responses.add(responses.PATCH, f"{LISTS}/77", status=103)

    with pytest.raises(PinterestTransientError):
        client().update_customer_list("77", Operation.ADD, ["a" * 64])

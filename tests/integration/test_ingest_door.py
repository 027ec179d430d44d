"""The local ingest door over real HTTP, in front of moto server's audience queue: every answer, in every auth mode.

One local stack for the module; each door has its own clock (tests expire tokens and refill the throttling bucket
without sleeping) and its own access log.
"""

from __future__ import annotations

import base64
import json
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from local_stack.door import (
    TOKEN_LIFETIME,
    TOKEN_PATH,
    DoorApp,
    DoorServer,
    QueueUnavailable,
    SqsSender,
    ingest_door,
)
from local_stack.stack import LocalStack, local_stack
from pinsync.ingest.door import OAUTH_SCOPE, PATH, Answers

from tests.infra.sam_translate import TEMPLATE_PATH, load_template

pytestmark = pytest.mark.slow

EVENTS = Path(__file__).resolve().parents[2] / "events"
SAMPLE = (EVENTS / "profiles" / "wave-1" / "01-spring-sale-email-and-gaid.json").read_bytes()
SAMPLE_IDENTIFIERS = ("Jane.Doe@Example.com", "38400000-8cf0-11bd-b23e-10b96e40000d")
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
DOCUMENTED = {200, 400, 401, 403, 413, 415, 429, 503}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Door:
    """A running door, its clock and access log, and how a producer authenticates to it."""

    server: DoorServer
    clock: FakeClock
    access_log: Path
    mode: str
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def post(self, body: bytes | Any, content_type: str | None = JSON, **headers: str) -> requests.Response:
        sent = {**self.headers, **headers}
        if content_type is not None:
            sent["Content-Type"] = content_type
        return requests.post(self.url, data=body, headers=sent, timeout=30)

    def token(self, **form: str) -> requests.Response:
        credentials = self.server.credentials
        return requests.post(
            self.server.token_url,
            data={"grant_type": "client_credentials", "scope": OAUTH_SCOPE, **form},
            auth=(credentials.client_id, credentials.client_secret),
            timeout=30,
        )

    def authorize(self) -> None:
        """As a producer does: the bearer token it was given, or a fresh OAuth 2 access token."""
        if self.mode == "bearer":
            self.headers = {"Authorization": f"Bearer {self.server.credentials.token}"}
        else:
            answer = self.token()
            assert answer.status_code == 200, answer.text
            self.headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with local_stack() as running:
        yield running


def open_door(stack: LocalStack, directory: Path, mode: str, **options: Any) -> Iterator[Door]:
    clock = FakeClock()
    access_log = directory / f"{mode}-access.log"
    with ingest_door(stack, auth=mode, access_log=access_log, clock=clock, **options) as server:  # type: ignore[arg-type]
        assert server is not None
        door = Door(server, clock, access_log, mode)
        door.authorize()
        yield door


@pytest.fixture(scope="module")
def bearer(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Door]:
    yield from open_door(stack, tmp_path_factory.mktemp("bearer"), "bearer")


@pytest.fixture(scope="module")
def oauth(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Door]:
    yield from open_door(stack, tmp_path_factory.mktemp("oauth"), "oauth2")


@pytest.fixture(params=["bearer", "oauth2"])
def door(request: pytest.FixtureRequest) -> Door:
    found: Door = request.getfixturevalue("bearer" if request.param == "bearer" else "oauth")
    found.authorize()
    return found


_clients: dict[str, Any] = {}


def aws_access_log_fields() -> tuple[str, ...]:
    """The keys of the AWS door's access log format (template.yaml), in order: its ``$context`` values replaced."""
    stage = load_template(TEMPLATE_PATH)["Resources"]["IngestStage"]["Properties"]
    fields = json.loads(re.sub(r"\$context\.[\w.]+", "-", stage["AccessLogSetting"]["Format"]))
    return tuple(fields)


def queued(stack: LocalStack, url: str | None = None) -> list[dict[str, Any]]:
    """Every message on the queue (received and deleted)."""
    sqs = _clients.get(stack.endpoint_url) or _clients.setdefault(stack.endpoint_url, stack.client("sqs"))
    url = url or stack.queue_url
    messages: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages"):
        messages.extend(batch)
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
        )
    return messages


@pytest.fixture(autouse=True)
def empty_queue(stack: LocalStack) -> Iterator[None]:
    queued(stack)
    yield


def refused(answer: requests.Response, expected: Answers) -> bool:
    return answer.status_code == expected.status and answer.json() == {"message": expected.message}


# 200 ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (SAMPLE, JSON),
        (
            '{"name": "Zoë Ünïcødé 🎉", "note": "\\u2028 tab\\t \u2028", "ja": "日本語"}'.encode(),
            "application/json; charset=utf-8",
        ),
        (b'  {"a": [1, 2.5e3, null, true], "b": {}}\n', "Application/JSON"),
        (b"{}", "application/json;charset=UTF-8"),
    ],
    ids=["sample-profile", "unicode", "whitespace", "empty-object"],
)
def test_a_json_object_is_on_the_queue_byte_identical_under_the_message_id_answered(
    stack: LocalStack, door: Door, body: bytes, content_type: str
):
    answer = door.post(body, content_type)
    assert answer.status_code == 200, answer.text
    [message] = queued(stack)
    assert answer.json() == {"messageId": message["MessageId"]}
    assert message["Body"].encode("utf-8") == body


def test_the_largest_body_the_queue_takes_goes_through_and_one_byte_more_is_413_with_nothing_queued(
    stack: LocalStack, door: Door
):
    size = door.server.app.max_message_size
    assert size == int(
        stack.client("sqs").get_queue_attributes(QueueUrl=stack.queue_url, AttributeNames=["MaximumMessageSize"])[
            "Attributes"
        ]["MaximumMessageSize"]
    )
    largest = b'{"pad": "' + b"x" * (size - len(b'{"pad": ""}')) + b'"}'
    assert len(largest) == size
    assert door.post(largest).status_code == 200
    assert [m["Body"].encode() for m in queued(stack)] == [largest]
    over = largest[:-2] + b'x"}'
    assert len(over) == size + 1
    assert refused(door.post(over), Answers.TOO_LARGE)
    # Without Content-Length (chunked), the door stops reading one byte past the limit
    assert refused(door.post(iter([over[:1000], over[1000:]])), Answers.TOO_LARGE)
    assert queued(stack) == []


def test_a_body_beyond_10_mb_is_refused_from_its_content_length_without_being_read(door: Door):
    host, port = door.server.root_url.removeprefix("http://").split(":")
    request = (
        f"POST {PATH} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Authorization: {door.headers['Authorization']}\r\nContent-Length: 20000000\r\n\r\n{{"
    )
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request.encode())
        received = b""
        while chunk := connection.recv(65536):  # until the door closes the connection: one recv may be the headers
            received += chunk
        answer = received.decode()
    assert answer.startswith("HTTP/1.1 413 ")
    assert answer.endswith(Answers.TOO_LARGE.body())


# 400 ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"[]",
        b'"x"',
        b"42",
        b"null",
        b"{not json",
        b'{"a": 1}{"b": 2}',
        b"[" * 100_000,
        b'{"a": "' + b"[" * 10 + b'"' + b"}" * 2,
        b'{"a": "\xff"}',
        b'{"a": "\xed\xa0\x80"}',  # an encoded surrogate is not UTF-8
        '{"a": 1}'.encode("utf-16"),
        b"{'a': 1}",
        '{"a": "\ufffe"}'.encode(),  # JSON allows it, SQS does not (InvalidMessageContents): the AWS door's 400
        '{"a": "\uffff"}'.encode(),
    ],
    ids=[
        "empty",
        "array",
        "string",
        "number",
        "null",
        "invalid",
        "two-objects",
        "deeply-nested",
        "unbalanced",
        "invalid-utf8",
        "surrogate",
        "utf16",
        "single-quotes",
        "noncharacter-fffe",
        "noncharacter-ffff",
    ],
)
def test_a_body_that_is_not_one_json_object_in_utf_8_is_400_and_never_queued(
    stack: LocalStack, door: Door, body: bytes
):
    assert refused(door.post(body), Answers.BAD_REQUEST_BODY)
    assert queued(stack) == []


# 415 ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", FORM, "application/jsonp", "application/ld+json", "json", "text/json"]
)
def test_a_media_type_other_than_application_json_is_415(stack: LocalStack, door: Door, content_type: str | None):
    assert refused(door.post(b"{}", content_type), Answers.UNSUPPORTED_MEDIA_TYPE)
    assert queued(stack) == []


# 401 / 403 ---------------------------------------------------------------------------------------------------------

MALFORMED_AUTHORIZATION = [None, "", "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Token abcdef", "Bearer a b"]


@pytest.mark.parametrize("authorization", MALFORMED_AUTHORIZATION)
def test_no_or_a_malformed_authorization_header_is_401_in_every_mode(
    stack: LocalStack, door: Door, authorization: str | None
):
    headers = {} if authorization is None else {"Authorization": authorization}
    answer = requests.post(door.url, data=SAMPLE, headers={"Content-Type": JSON, **headers}, timeout=30)
    assert refused(answer, Answers.UNAUTHORIZED)
    assert queued(stack) == []


def test_a_well_formed_wrong_bearer_token_is_403(stack: LocalStack, bearer: Door):
    token = bearer.server.credentials.token
    for wrong in ("x" * len(token), token[:-1], token + "x", token.upper() if token.upper() != token else "Y" * 43):
        assert refused(bearer.post(SAMPLE, Authorization=f"Bearer {wrong}"), Answers.FORBIDDEN)
    assert queued(stack) == []
    # The scheme is case-insensitive, as API Gateway's identity validation expression
    assert bearer.post(SAMPLE, Authorization=f"bearer {token}").status_code == 200


def test_an_unknown_or_expired_oauth_token_is_401_and_a_fresh_one_works(stack: LocalStack, oauth: Door):
    assert refused(oauth.post(SAMPLE, Authorization=f"Bearer {'x' * 43}"), Answers.UNAUTHORIZED)
    # The client secret is not an access token
    secret = oauth.server.credentials.client_secret
    assert refused(oauth.post(SAMPLE, Authorization=f"Bearer {secret}"), Answers.UNAUTHORIZED)
    oauth.authorize()
    assert oauth.post(SAMPLE).status_code == 200
    oauth.clock.advance(TOKEN_LIFETIME - 1)
    assert oauth.post(SAMPLE).status_code == 200
    oauth.clock.advance(1)
    assert refused(oauth.post(SAMPLE), Answers.UNAUTHORIZED)
    assert len(queued(stack)) == 2
    oauth.authorize()
    assert oauth.post(SAMPLE).status_code == 200


def test_authentication_comes_before_the_content_type_the_size_and_the_body(bearer: Door):
    too_large = b"{" + b" " * bearer.server.app.max_message_size + b"}"
    for body, content_type in ((b"[]", "text/plain"), (too_large, JSON), (b"[]", JSON)):
        assert refused(bearer.post(body, content_type, Authorization="Basic x"), Answers.UNAUTHORIZED)
        assert refused(bearer.post(body, content_type, Authorization=f"Bearer {'y' * 43}"), Answers.FORBIDDEN)
    assert refused(bearer.post(too_large, "text/plain"), Answers.UNSUPPORTED_MEDIA_TYPE)
    assert refused(bearer.post(too_large + b"[]"), Answers.TOO_LARGE)


# The token endpoint --------------------------------------------------------------------------------------------------


def test_the_token_endpoint_takes_basic_and_body_client_authentication(oauth: Door):
    credentials = oauth.server.credentials
    basic = oauth.token()
    posted = requests.post(
        oauth.server.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret,
        },
        timeout=30,
    )
    for answer in (basic, posted):
        assert answer.status_code == 200, answer.text
        token = answer.json()
        assert set(token) == {"access_token", "expires_in", "token_type"}
        assert (token["expires_in"], token["token_type"]) == (TOKEN_LIFETIME, "Bearer")
        assert answer.headers["Cache-Control"] == "no-store"
        assert oauth.post(SAMPLE, Authorization=f"Bearer {token['access_token']}").status_code == 200
    assert basic.json()["access_token"] != posted.json()["access_token"]


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def test_the_token_endpoint_refuses_like_cognito(oauth: Door):
    credentials = oauth.server.credentials
    url = oauth.server.token_url
    good = {"grant_type": "client_credentials"}
    basic = _basic(credentials.client_id, credentials.client_secret)
    own = {"client_id": credentials.client_id, "client_secret": credentials.client_secret}

    def token(
        form: dict[str, str] | str, authorization: str | None = None, content_type: str = FORM
    ) -> tuple[int, str]:
        headers = {"Content-Type": content_type} | ({"Authorization": authorization} if authorization else {})
        answer = requests.post(url, data=form, headers=headers, timeout=30)
        assert "access_token" not in answer.text
        return answer.status_code, answer.json()["error"]

    invalid_client = (401, "invalid_client")
    assert token(good, _basic(credentials.client_id, "wrong" * 9)) == invalid_client
    assert token(good | own | {"client_secret": "wrong" * 9}) == invalid_client
    assert token(good, _basic("unknown-client", credentials.client_secret)) == invalid_client
    assert token(good | own | {"client_id": "unknown-client"}) == invalid_client
    assert token(good) == invalid_client  # no client authentication at all
    assert token(good | {"client_id": credentials.client_id}) == invalid_client  # no secret
    assert token(good, "Basic !!!not-base64") == invalid_client
    assert token(good, "Basic " + base64.b64encode(b"no-colon").decode()) == invalid_client
    assert token(good, f"Bearer {credentials.client_secret}") == invalid_client
    assert token({}, basic) == (400, "invalid_request")  # no grant_type
    assert token(own) == (400, "invalid_request")
    assert token(good | own, basic) == (400, "invalid_request")  # both ways of authenticating at once
    assert token(good | {"client_id": credentials.client_id}, basic) == (400, "invalid_request")
    assert token(json.dumps(good | own), content_type=JSON) == (400, "invalid_request")
    assert token("grant_type=client_credentials&grant_type=client_credentials", basic) == (400, "invalid_request")
    assert token({"grant_type": "password"}, basic) == (400, "unsupported_grant_type")
    assert token({"grant_type": "authorization_code"} | own) == (400, "unsupported_grant_type")
    assert token(good | {"scope": "pinsync/admin"}, basic) == (400, "invalid_scope")
    assert token(good | {"scope": f"{OAUTH_SCOPE} openid"}, basic) == (400, "invalid_scope")
    assert token(good | {"scope": ""}, basic) == (400, "invalid_scope")
    # With Basic authentication, the 401 says how to authenticate
    answer = requests.post(url, data=good, auth=(credentials.client_id, "wrong"), timeout=30)
    assert answer.headers["WWW-Authenticate"].startswith("Basic")


def test_the_token_endpoint_takes_only_post_and_exists_only_in_oauth2_mode(bearer: Door, oauth: Door):
    assert requests.get(oauth.server.token_url, timeout=30).status_code == 405
    missing = requests.post(bearer.server.root_url + TOKEN_PATH, data={"grant_type": "client_credentials"}, timeout=30)
    assert (missing.status_code, missing.json()) == (404, {"message": "Not Found"})


# 404 / 405 ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/ingest", "/ingest/profiles/", "/ingest/profile", "/INGEST/PROFILES", "/x"])
def test_an_unknown_path_is_404(stack: LocalStack, door: Door, path: str):
    answer = requests.post(
        door.server.root_url + path, data=SAMPLE, headers={**door.headers, "Content-Type": JSON}, timeout=30
    )
    assert (answer.status_code, answer.json()) == (404, {"message": "Not Found"})
    assert queued(stack) == []


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_a_method_other_than_post_is_405(stack: LocalStack, door: Door, method: str):
    answer = requests.request(method, door.url, data=SAMPLE, headers={**door.headers, "Content-Type": JSON}, timeout=30)
    assert (answer.status_code, answer.json()) == (405, {"message": "Method Not Allowed"})
    assert answer.headers["Allow"] == "POST"
    assert queued(stack) == []


# 429 ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["bearer", "oauth2"])
def test_over_the_rate_and_burst_is_429_before_anything_else(stack: LocalStack, tmp_path: Path, mode: str):
    for door in open_door(stack, tmp_path, mode, rate=2, burst=3):
        authorized = door.headers
        assert [door.post(SAMPLE).status_code for _ in range(3)] == [200, 200, 200]
        assert refused(door.post(SAMPLE), Answers.THROTTLED)
        door.headers = {}  # unauthenticated and over the limit: throttled first, as API Gateway does
        assert refused(door.post(b"[]", "text/plain"), Answers.THROTTLED)
        door.clock.advance(0.5)  # one request's worth at 2 per second
        door.headers = authorized
        assert [door.post(SAMPLE).status_code for _ in range(2)] == [200, 429]
        door.clock.advance(60)  # refilled up to the burst, not beyond
        assert [door.post(SAMPLE).status_code for _ in range(4)] == [200, 200, 200, 429]
        assert len(queued(stack)) == 7
        log = [json.loads(line) for line in door.access_log.read_text().splitlines()]
        assert [entry["errorType"] for entry in log if entry["status"] == 429] == ["THROTTLED"] * 4


# 503 ---------------------------------------------------------------------------------------------------------------


class FailingSender:
    def __init__(self) -> None:
        self.bodies: list[str] = []

    def send(self, body: str) -> str:
        self.bodies.append(body)
        raise QueueUnavailable("down")


def test_a_failing_queue_is_503_and_nothing_is_acknowledged(stack: LocalStack, tmp_path: Path):
    sender = FailingSender()
    for door in open_door(stack, tmp_path, "bearer", sender=sender):
        answer = door.post(SAMPLE)
        assert refused(answer, Answers.QUEUE_UNAVAILABLE)
        assert "messageId" not in answer.text
        assert sender.bodies == [SAMPLE.decode()]


def test_a_deleted_queue_is_503(stack: LocalStack, door: Door):
    sqs = stack.client("sqs")
    url = sqs.create_queue(QueueName=f"door-gone-{door.mode}")["QueueUrl"]
    app = door.server.app
    original = app.sender
    app.sender = SqsSender(sqs, url)
    try:
        assert door.post(SAMPLE).status_code == 200
        sqs.delete_queue(QueueUrl=url)
        assert refused(door.post(SAMPLE), Answers.QUEUE_UNAVAILABLE)
    finally:
        app.sender = original
    assert queued(stack) == []


def test_an_unreachable_sqs_is_503(stack: LocalStack, door: Door):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = door.server.app
    original = app.sender
    app.sender = SqsSender(stack.session().client("sqs", endpoint_url=f"http://127.0.0.1:{port}"), stack.queue_url)
    try:
        assert refused(door.post(SAMPLE), Answers.QUEUE_UNAVAILABLE)
    finally:
        app.sender = original


# The access log --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["bearer", "oauth2"])
def test_the_access_log_has_one_line_per_request_and_never_a_body_header_or_credential(
    stack: LocalStack, tmp_path: Path, mode: str
):
    for door in open_door(stack, tmp_path, mode, rate=1000, burst=5):
        credentials = door.server.credentials
        access_token = door.headers["Authorization"].removeprefix("Bearer ")
        statuses = [200] if mode == "oauth2" else []  # the token request of door.authorize()
        statuses += [
            door.post(SAMPLE).status_code,
            door.post(b'{"email": "leaky@example.com"', JSON).status_code,
            door.post(SAMPLE, "text/plain", **{"X-Email": "header@example.com"}).status_code,
            requests.post(door.url + "?email=query@example.com", data=SAMPLE, timeout=30).status_code,
            door.post(SAMPLE, Authorization=f"Bearer {'w' * 43}-wrong").status_code,
            door.post(SAMPLE).status_code,  # over the burst
            requests.get(door.server.root_url + "/private/query@example.com", timeout=30).status_code,
        ]
        if mode == "oauth2":
            statuses.append(door.token(client_secret="secret-in-body").status_code)
            statuses.append(door.token().status_code)
        lines = door.access_log.read_text().splitlines()
        entries = [json.loads(line) for line in lines]
        assert [entry["status"] for entry in entries] == statuses
        # The fields of the AWS door's access log (template.yaml, IngestStage's AccessLogSetting), in its order
        assert {tuple(entry) for entry in entries} == {aws_access_log_fields()}
        assert {entry["resourcePath"] for entry in entries} <= {PATH, TOKEN_PATH, "-"}
        [accepted] = [entry for entry in entries if entry["resourcePath"] == PATH and entry["status"] == 200]
        assert accepted["errorType"] is None and isinstance(accepted["responseLatency"], int)
        assert accepted["integrationStatus"] == 200 and isinstance(accepted["integrationLatency"], int)
        assert {entry["errorType"] for entry in entries if entry["status"] in (401, 403)} <= {
            "UNAUTHORIZED",
            "ACCESS_DENIED",
        }
        message_id = queued(stack)[0]["MessageId"]
        forbidden = [
            *SAMPLE_IDENTIFIERS,
            "example",
            "leaky",
            "segmentMembership",
            "Bearer",
            "wrong",
            access_token,
            message_id,
        ]
        if mode == "bearer":
            forbidden.append(credentials.token)
        else:
            forbidden += [credentials.client_secret, credentials.client_id, "secret-in-body"]
        text = "\n".join(lines).lower()
        assert [value for value in forbidden if value.lower() in text] == []


# Anything a producer may send --------------------------------------------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=12,
)
_bodies = st.one_of(
    st.dictionaries(st.text(), _json_values, max_size=5).map(lambda value: json.dumps(value).encode()),
    st.dictionaries(st.text(), _json_values, max_size=5).map(
        lambda value: json.dumps(value, ensure_ascii=False).encode()
    ),
    st.binary(max_size=200),
    st.text(max_size=100).map(str.encode),
    _json_values.map(lambda value: json.dumps(value).encode()),
)
_header_text = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=60)


_json_media_types = st.sampled_from([JSON, "application/json; charset=utf-8", "APPLICATION/JSON"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=_bodies,
    # Weighted towards requests that pass authentication and the media type, so that the body decides
    content_type=st.one_of(
        _json_media_types, _json_media_types, st.none(), st.sampled_from(["text/plain", FORM]), _header_text
    ),
    authorization=st.one_of(
        st.just("valid"),
        st.just("valid"),
        st.just("valid"),
        st.none(),
        _header_text,
        _header_text.map("Bearer {}".format),
    ),
)
@example(body=SAMPLE, content_type=JSON, authorization="valid")
@example(body='{"ü": "\U0001f600"}'.encode(), content_type=JSON, authorization="valid")
@example(body=b"[" * 100_000, content_type=JSON, authorization="valid")
def test_whatever_is_sent_the_answer_is_documented_and_200_means_the_exact_body_is_queued(
    stack: LocalStack, bearer: Door, body: bytes, content_type: str | None, authorization: str | None
):
    queued(stack)
    headers = {} if content_type is None else {"Content-Type": content_type}
    if authorization == "valid":
        headers |= bearer.headers
    elif authorization is not None:
        headers["Authorization"] = authorization
    answer = requests.post(bearer.url, data=body, headers=headers, timeout=30)
    event(f"status {answer.status_code}")
    assert answer.status_code in DOCUMENTED
    messages = queued(stack)
    if answer.status_code == 200:
        [message] = messages
        assert answer.json() == {"messageId": message["MessageId"]}
        assert message["Body"].encode("utf-8") == body
    else:
        assert messages == []
        assert set(answer.json()) == {"message"}


def test_the_app_refuses_to_start_without_credentials(stack: LocalStack):
    from local_stack.door import Credentials

    sender = FailingSender()
    with pytest.raises(ValueError, match="bearer or oauth2"):
        DoorApp(sender, max_message_size=1024, credentials=Credentials.generate("disabled"))
    with pytest.raises(ValueError, match="at least"):
        DoorApp(sender, max_message_size=1024, credentials=Credentials("bearer", token="short"))
    with ingest_door(stack, auth="disabled") as nothing:
        assert nothing is None

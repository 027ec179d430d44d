"""The ingest door's local stand-in: what API Gateway (a direct SQS integration) and its authorizer are in AWS.

A small WSGI app on werkzeug's threaded server in a background thread (like the Pinterest emulator), in front of
the local audience queue. It follows the rules of ``pinsync.ingest.door`` (path, bearer header, token check,
answers, the JSON-object check) and answers what the AWS door answers, checking in API Gateway's order:

1. route: an unknown path is 404 ``{"message": "Not Found"}`` and a method other than POST on a known path is 405
   ``{"message": "Method Not Allowed"}``. (API Gateway itself answers both with 403 "Missing Authentication
   Token"; a stand-in that says what is wrong is easier to debug, and no producer relies on that 403.)
2. throttling: a token bucket (``rate`` requests per second, ``burst``) → 429 THROTTLED;
3. authentication: ``bearer`` (the token printed at start: no or a malformed ``Authorization`` header → 401,
   another well-formed token → 403) or ``oauth2`` (an access token from the client-credentials token endpoint
   below, valid ``TOKEN_LIFETIME`` seconds: missing, unknown or expired → 401);
4. ``Content-Type`` whose media type is not ``application/json`` (parameters ignored) → 415;
5. a body larger than the queue's ``MaximumMessageSize`` (read from the queue at start, bytes), or than API
   Gateway's own 10 MB payload limit → 413, judged from ``Content-Length`` before anything is read;
6. a body that is not UTF-8, not one JSON object, or holds a character SQS refuses (``sqs_accepts``) → 400
   (the AWS door answers SQS's InvalidMessageContents so);
7. ``SendMessage`` with the body unchanged; any SQS error or an unreachable SQS → 503 (nothing acknowledged),
   otherwise 200 ``{"messageId": "<SQS message id>"}``, only once SQS has the message.

With ``oauth2`` the door also serves ``POST /oauth2/token``, answering like Amazon Cognito's token endpoint:
``grant_type=client_credentials`` in an ``application/x-www-form-urlencoded`` body, an optional ``scope`` (only
``pinsync/ingest``), the client authenticated either by ``Authorization: Basic`` (client_secret_basic) or by
``client_id`` and ``client_secret`` in the body (client_secret_post), the two Adobe Experience Platform offers.
Errors are ``{"error": "invalid_request" | "invalid_client" | "unsupported_grant_type" | "invalid_scope"}``:
400, and 401 for ``invalid_client``.

Every request writes one JSON line to the access log, with the fields of the AWS access log (requestId,
requestTime, ip, httpMethod, resourcePath, status, responseLength, responseLatency in ms, integrationStatus,
integrationLatency, errorType: API Gateway's response type, authorizerError; null where AWS writes "-") and
nothing else: never a body, a header, a query string, a token or a client secret.

Werkzeug's development server closes every connection after its answer (it has no HTTP keep-alive), so each
request pays a TCP connect; the figures of ``bench/ingest_door.py`` include it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TextIO
from urllib.parse import parse_qsl, unquote_plus

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pinsync.ingest.door import (
    MIN_TOKEN_LENGTH,
    OAUTH_SCOPE,
    PATH,
    Answer,
    Answers,
    bearer_token,
    is_json_object,
    sqs_accepts,
    token_matches,
)
from pinterest_emulator.server import BackgroundWsgiServer
from werkzeug.serving import WSGIRequestHandler
from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from local_stack.stack import LocalStack

log = logging.getLogger(__name__)

AuthMode = Literal["bearer", "oauth2", "disabled"]
AUTH_MODES: tuple[AuthMode, ...] = ("bearer", "oauth2", "disabled")
TOKEN_PATH = "/oauth2/token"  # noqa: S105 - a path, not a value
TOKEN_LIFETIME = 3600  # seconds, Cognito's default access token validity
API_GATEWAY_PAYLOAD_LIMIT = 10 * 1024 * 1024
# The template's stage throttling defaults (IngestRateLimit / IngestBurstLimit).
DEFAULT_RATE = 1000.0
DEFAULT_BURST = 2000
DEFAULT_ACCESS_LOG = Path(".local/ingest-access.log")
_TOKEN_REQUEST_LIMIT = 16 * 1024  # a token request is a few hundred bytes
NOT_FOUND = Answer(404, "Not Found")
METHOD_NOT_ALLOWED = Answer(405, "Method Not Allowed")
INTERNAL_ERROR = Answer(500, "Internal server error")

Clock = Callable[[], float]


class QueueUnavailable(Exception):
    """SQS did not take the message (an error answer, or no answer)."""


class QueueSender(Protocol):
    """Where the door puts a message: SendMessage with the body unchanged, the message id back."""

    def send(self, body: str) -> str: ...


@dataclass
class SqsSender:
    sqs: Any
    queue_url: str

    def send(self, body: str) -> str:
        try:
            message_id: str = self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)["MessageId"]
        except (ClientError, BotoCoreError) as error:
            raise QueueUnavailable(type(error).__name__) from error
        return message_id

    def max_message_size(self) -> int:
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["MaximumMessageSize"])
        return int(attributes["Attributes"]["MaximumMessageSize"])


class TokenBucket:
    """API Gateway's throttling: ``burst`` requests at once, refilled at ``rate`` per second."""

    def __init__(self, rate: float, burst: int, clock: Clock = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate > 0 and burst >= 1")
        self.rate, self.burst, self._clock = rate, burst, clock
        self._tokens = float(burst)
        self._last = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + max(0.0, now - self._last) * self.rate)
            self._last = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False


@dataclass(frozen=True)
class Credentials:
    """Local throwaway credentials, generated at start: the bearer token, or an OAuth 2 client."""

    auth: AuthMode
    token: str = field(default="", repr=False)
    client_id: str = ""
    client_secret: str = field(default="", repr=False)

    @classmethod
    def generate(cls, auth: AuthMode) -> Credentials:
        if auth == "bearer":
            return cls(auth, token=secrets.token_urlsafe(32))
        if auth == "oauth2":
            return cls(auth, client_id=secrets.token_hex(13), client_secret=secrets.token_urlsafe(32))
        return cls(auth)


class OAuthTokens:
    """The access tokens the token endpoint issued, each valid ``lifetime`` seconds by ``clock``."""

    def __init__(self, lifetime: float = TOKEN_LIFETIME, clock: Clock = time.monotonic) -> None:
        self.lifetime, self._clock = lifetime, clock
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = self._clock()
            self._expiry = {known: expiry for known, expiry in self._expiry.items() if expiry > now}
            self._expiry[token] = now + self.lifetime
        return token

    def valid(self, token: str) -> bool:
        with self._lock:
            expiry = self._expiry.get(token)
        return expiry is not None and self._clock() < expiry


class OAuthError(Exception):
    def __init__(self, error: str, *, basic: bool = False) -> None:
        super().__init__(error)
        self.error = error
        self.status = 401 if error == "invalid_client" else 400
        self.basic = basic


class AccessLog:
    """One JSON line per request, the AWS access log's fields only."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def write(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, separators=(",", ":"))
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()


@dataclass
class _Outcome:
    status: int
    body: bytes
    response_type: str | None = None  # API Gateway's gateway response type ($context.error.responseType)
    headers: dict[str, str] = field(default_factory=dict)
    integration_status: int | None = None  # what SQS answered, when it was called
    integration_latency: int | None = None  # ms


# The gateway response API Gateway itself answers each refusal with (template.yaml's GatewayResponse types); the
# queue's refusals are integration responses, which have none.
_RESPONSE_TYPES: dict[Answers, str | None] = {
    Answers.UNAUTHORIZED: "UNAUTHORIZED",
    Answers.FORBIDDEN: "ACCESS_DENIED",
    Answers.BAD_REQUEST_BODY: "BAD_REQUEST_BODY",
    Answers.TOO_LARGE: "REQUEST_TOO_LARGE",
    Answers.UNSUPPORTED_MEDIA_TYPE: "UNSUPPORTED_MEDIA_TYPE",
    Answers.THROTTLED: "THROTTLED",
    Answers.QUEUE_UNAVAILABLE: None,
    Answers.AUTHORIZER_UNAVAILABLE: "AUTHORIZER_FAILURE",
}


def _answer(answer: Answer, response_type: str, **headers: str) -> _Outcome:
    return _Outcome(answer.status, answer.body().encode(), response_type, dict(headers))


def _refusal(answer: Answers) -> _Outcome:
    return _Outcome(answer.status, answer.body().encode(), _RESPONSE_TYPES[answer])


class DoorApp:
    """The door as a WSGI app: routing, the checks in API Gateway's order, SendMessage, the access log."""

    def __init__(
        self,
        sender: QueueSender,
        *,
        max_message_size: int,
        credentials: Credentials,
        rate: float = DEFAULT_RATE,
        burst: int = DEFAULT_BURST,
        access_log: AccessLog | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        if credentials.auth not in ("bearer", "oauth2"):
            raise ValueError("the door needs bearer or oauth2 credentials")
        if credentials.auth == "bearer" and len(credentials.token) < MIN_TOKEN_LENGTH:
            raise ValueError(f"a bearer token has at least {MIN_TOKEN_LENGTH} characters")
        self.sender = sender
        self.max_message_size = max_message_size
        self.credentials = credentials
        self.bucket = TokenBucket(rate, burst, clock)
        self.tokens = OAuthTokens(clock=clock)
        self.access_log = access_log

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        request = Request(environ)
        resource = self._resource(request.path)
        try:
            outcome = self._route(request, resource)
        except Exception:  # a bug: answer 500 and keep serving (the traceback names no value)
            log.exception("ingest door: unexpected error")
            outcome = _answer(INTERNAL_ERROR, "INTERNAL_ERROR")
        response = Response(outcome.body, status=outcome.status, content_type="application/json")
        response.headers["x-amzn-RequestId"] = request_id = str(uuid.uuid4())
        for name, value in outcome.headers.items():
            response.headers[name] = value
        if self.access_log is not None:
            self.access_log.write(
                {
                    "requestId": request_id,
                    "requestTime": datetime.now(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
                    "ip": request.remote_addr,
                    "httpMethod": request.method,
                    "resourcePath": resource or "-",
                    "status": outcome.status,
                    "responseLength": len(outcome.body),
                    "responseLatency": round((time.perf_counter() - started) * 1000),
                    "integrationStatus": outcome.integration_status,
                    "integrationLatency": outcome.integration_latency,
                    "errorType": outcome.response_type,
                    "authorizerError": None,
                }
            )
        return response(environ, start_response)

    def _resource(self, path: str) -> str | None:
        if path == PATH:
            return PATH
        if path == TOKEN_PATH and self.credentials.auth == "oauth2":
            return TOKEN_PATH
        return None

    def _route(self, request: Request, resource: str | None) -> _Outcome:
        if resource is None:
            return _answer(NOT_FOUND, "RESOURCE_NOT_FOUND")
        if request.method != "POST":
            return _answer(METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", Allow="POST")
        if resource == TOKEN_PATH:
            return self._token(request)
        return self._ingest(request)

    # The door ---------------------------------------------------------------------------------------------------

    def _ingest(self, request: Request) -> _Outcome:
        if not self.bucket.take():
            return _refusal(Answers.THROTTLED)
        refused = self._authenticate(request.headers.get("Authorization"))
        if refused is not None:
            return _refusal(refused)
        if request.mimetype != "application/json":
            return _refusal(Answers.UNSUPPORTED_MEDIA_TYPE)
        limit = min(self.max_message_size, API_GATEWAY_PAYLOAD_LIMIT)
        if request.content_length is not None and request.content_length > limit:
            return _refusal(Answers.TOO_LARGE)
        body = _read(request, limit + 1)
        if len(body) > limit:
            return _refusal(Answers.TOO_LARGE)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return _refusal(Answers.BAD_REQUEST_BODY)
        if not is_json_object(body) or not sqs_accepts(text):
            return _refusal(Answers.BAD_REQUEST_BODY)
        sending = time.perf_counter()
        try:
            message_id = self.sender.send(text)
        except QueueUnavailable:
            failed = _refusal(Answers.QUEUE_UNAVAILABLE)
            failed.integration_latency = round((time.perf_counter() - sending) * 1000)
            return failed
        latency = round((time.perf_counter() - sending) * 1000)
        return _Outcome(200, json.dumps({"messageId": message_id}).encode(), None, {}, 200, latency)

    def _authenticate(self, authorization: str | None) -> Answers | None:
        token = bearer_token(authorization)
        if token is None:
            return Answers.UNAUTHORIZED
        if self.credentials.auth == "bearer":
            return None if token_matches(token, self.credentials.token) else Answers.FORBIDDEN
        return None if self.tokens.valid(token) else Answers.UNAUTHORIZED

    # The OAuth 2 token endpoint -----------------------------------------------------------------------------------

    def _token(self, request: Request) -> _Outcome:
        try:
            self._check_token_request(request)
        except OAuthError as error:
            headers = {"Cache-Control": "no-store"}
            if error.basic:
                headers["WWW-Authenticate"] = 'Basic realm="pinsync"'
            return _Outcome(error.status, json.dumps({"error": error.error}).encode(), error.error.upper(), headers)
        answer = {"access_token": self.tokens.issue(), "expires_in": TOKEN_LIFETIME, "token_type": "Bearer"}
        return _Outcome(200, json.dumps(answer).encode(), None, {"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _check_token_request(self, request: Request) -> None:
        if request.mimetype != "application/x-www-form-urlencoded":
            raise OAuthError("invalid_request")
        form = _form(_read(request, _TOKEN_REQUEST_LIMIT + 1))
        authorization = request.headers.get("Authorization")
        basic = authorization is not None
        if basic and ("client_id" in form or "client_secret" in form):
            raise OAuthError("invalid_request")  # one way of authenticating the client, not two
        if "grant_type" not in form:
            raise OAuthError("invalid_request")
        client_id, client_secret = (
            _basic(authorization) if basic else (form.get("client_id"), form.get("client_secret"))
        )
        if not (
            client_id == self.credentials.client_id
            and client_secret is not None
            and token_matches(client_secret, self.credentials.client_secret)
        ):
            raise OAuthError("invalid_client", basic=basic)
        if form["grant_type"] != "client_credentials":
            raise OAuthError("unsupported_grant_type")
        if "scope" in form and form["scope"].split(" ") != [OAUTH_SCOPE]:
            raise OAuthError("invalid_scope")


def _read(request: Request, limit: int) -> bytes:
    """Up to ``limit`` bytes of the body (Content-Length or chunked), never more."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = request.stream.read(min(65536, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _form(body: bytes) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body; a parameter given twice, or a body too large, is refused."""
    if len(body) > _TOKEN_REQUEST_LIMIT:
        raise OAuthError("invalid_request")
    try:
        pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=False, errors="strict")
    except (UnicodeDecodeError, ValueError) as error:
        raise OAuthError("invalid_request") from error
    form = dict(pairs)
    if len(form) != len(pairs):
        raise OAuthError("invalid_request")
    return form


def _basic(authorization: str | None) -> tuple[str | None, str | None]:
    """client_secret_basic (RFC 6749 2.3.1): ``Basic base64(urlencoded id ":" urlencoded secret)``."""
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        raise OAuthError("invalid_client", basic=True)
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as error:
        raise OAuthError("invalid_client", basic=True) from error
    client_id, colon, client_secret = decoded.partition(":")
    if not colon:
        raise OAuthError("invalid_client", basic=True)
    return unquote_plus(client_id), unquote_plus(client_secret)


class _RequestHandler(WSGIRequestHandler):
    """Quiet: the access log is the door's log; werkzeug's own lines would carry the raw request line."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log(self, type: str, message: str, *args: Any) -> None:
        if type == "error":  # the template only: its arguments may quote the request line
            log.error("ingest door: %s", message.split("\n", 1)[0])


class DoorServer(BackgroundWsgiServer):
    """The door listening on ``host:port`` (port 0 picks a free port), in a daemon thread."""

    thread_name = "ingest-door"
    app: DoorApp

    def __init__(self, app: DoorApp, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(app, host, port, _RequestHandler)

    @property
    def credentials(self) -> Credentials:
        return self.app.credentials

    @property
    def url(self) -> str:
        return self.root_url + PATH

    @property
    def token_url(self) -> str:
        return self.root_url + TOKEN_PATH

    def environment(self) -> dict[str, str]:
        """What a producer exports to reach the door (``pinsync local up`` prints it)."""
        found = {"PINSYNC_INGEST_URL": self.url}
        if self.credentials.auth == "bearer":
            found["PINSYNC_INGEST_TOKEN"] = self.credentials.token
        else:
            found["PINSYNC_INGEST_TOKEN_URL"] = self.token_url
            found["PINSYNC_INGEST_CLIENT_ID"] = self.credentials.client_id
            found["PINSYNC_INGEST_CLIENT_SECRET"] = self.credentials.client_secret
        return found

    def curl_example(self) -> str:
        """A ready-to-paste command that POSTs one profile, with the exported variables."""
        post = (
            'curl -sS -X POST "$PINSYNC_INGEST_URL" -H "Authorization: Bearer $TOKEN" '
            "-H 'Content-Type: application/json' "
            """-d '{"segmentMembership": {"ups": {"spring-sale": {"status": "realized"}}}, """
            """"identityMap": {"Email": [{"id": "someone@example.com"}]}}'"""
        )
        if self.credentials.auth == "bearer":
            return post.replace("$TOKEN", "$PINSYNC_INGEST_TOKEN")
        token = (
            'TOKEN=$(curl -sS -X POST "$PINSYNC_INGEST_TOKEN_URL" '
            '-u "$PINSYNC_INGEST_CLIENT_ID:$PINSYNC_INGEST_CLIENT_SECRET" '
            f"-d grant_type=client_credentials -d scope={OAUTH_SCOPE} "
            """| python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"""
        )
        return f"{token}\n{post}"


@contextmanager
def ingest_door(
    stack: LocalStack,
    *,
    auth: AuthMode = "bearer",
    host: str = "127.0.0.1",
    port: int = 0,
    rate: float = DEFAULT_RATE,
    burst: int = DEFAULT_BURST,
    access_log: Path | None = DEFAULT_ACCESS_LOG,
    clock: Clock = time.monotonic,
    sender: QueueSender | None = None,
) -> Iterator[DoorServer | None]:
    """The door in front of the stack's audience queue, with new credentials; None when ``auth`` is disabled."""
    if auth == "disabled":
        yield None
        return
    sqs = stack.session().client(
        "sqs",
        endpoint_url=stack.endpoint_url,
        config=Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 2, "mode": "standard"}),
    )
    queue = SqsSender(sqs, stack.queue_url)
    with contextlib.ExitStack() as resources:
        log_writer = None
        if access_log is not None:
            access_log.parent.mkdir(parents=True, exist_ok=True)
            log_writer = AccessLog(resources.enter_context(access_log.open("a", encoding="utf-8")))
        app = DoorApp(
            sender or queue,
            max_message_size=queue.max_message_size(),
            credentials=Credentials.generate(auth),
            rate=rate,
            burst=burst,
            access_log=log_writer,
            clock=clock,
        )
        server = DoorServer(app, host=host, port=port).start()
        resources.callback(server.stop)
        yield server

"""Pinterest Ads API v5 client: one ``requests.Session``, timeouts, bounded retries, typed errors.

- 429: wait per ``Retry-After`` / ``X-RateLimit-Reset`` (capped, jittered, and only if the invocation has the
  time), then retry.
- 5xx, timeouts and connection errors: bounded exponential backoff with full jitter. Creating a list or an
  audience is not idempotent, so those calls are not retried after an ambiguous failure: the caller looks the
  object up by name before trying again. An update accepted on a retry says so: the ambiguous attempt may still land.
- 401: re-read the token secret, bypassing the cache, and retry once (a rotation may just have happened).
- Other 4xx: raised as typed errors for the caller to decide (400 → split and exclude; others → retry later).
- 3xx: never followed (Pinterest's API answers none; requests would turn a PATCH into a GET whose 200 looks like an
  update, or repeat a POST's records to another host), an answer error like any other that breaks the contract.
- Bodies are read as they arrive, at most :data:`MAX_ANSWER_BYTES` once decoded (a gzip bomb stays small) and only
  while the invocation has time: requests' timeout bounds each read of the socket, not the whole body.

Errors carry the status, Pinterest's error ``code`` and the operation, never a response body (it could echo
records) nor a token.
"""

from __future__ import annotations

import json as json_module
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import requests
import urllib3

from pinsync.core.deadline import Deadline
from pinsync.core.errors import (
    PinterestAnswerError,
    PinterestAuthError,
    PinterestError,
    PinterestNotFoundError,
    PinterestPermanentError,
    PinterestRateLimitedError,
    PinterestRejectedError,
    PinterestTokenUnavailableError,
    PinterestTransientError,
    TokenUnavailableError,
)
from pinsync.core.observability import MetricName, MetricsSink, MetricUnit, logger
from pinsync.core.ports import AccessTokenSource
from pinsync.core.retry import RetryPolicy
from pinsync.core.settings import PinterestAccess
from pinsync.sync.membership import Operation

LIST_TYPE = "EMAIL"  # records are SHA-256 hex digests; Pinterest tells emails and MAIDs apart on ingestion
PAGE_SIZE = 250
MAX_PAGES = 400  # 100,000 lists or audiences, far more than an ad account holds
_ID = re.compile(r"[0-9]{1,18}")  # the spec's ``^\d+$`` is ECMA-262: ASCII digits, and ``$`` ends the string
# A page of 250 lists or audiences is some 100 KB; an error object far less. Past these, the body is not read on.
MAX_ANSWER_BYTES = 4 << 20
MAX_ERROR_BYTES = 64 << 10
_READ_BYTES = 64 << 10
# Pinterest's error codes are small integers; the code names an exclusion reason, which is a metric dimension.
_CODES = range(-(2**31), 2**31)


class PinterestClient:
    """The :class:`pinsync.sync.ports.PinterestAds` port over HTTP, for one ad account."""

    def __init__(
        self,
        *,
        base_url: str,
        ad_account_id: str,
        tokens: AccessTokenSource,
        session: requests.Session,
        deadline: Deadline,
        timeout: float = 10.0,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        metrics: MetricsSink,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._account = quote(ad_account_id, safe="")
        self._tokens = tokens
        self._session = session
        self._deadline = deadline
        self._timeout = timeout
        self._policy = policy or RetryPolicy()
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._metrics = metrics
        self._ambiguous_attempt = False  # of the last call: an attempt that Pinterest may have applied failed

    # -- the port -------------------------------------------------------------------------------------------

    @classmethod
    def of(
        cls,
        access: PinterestAccess,
        *,
        tokens: AccessTokenSource,
        session: requests.Session,
        deadline: Deadline,
        metrics: MetricsSink,
        sleep: Callable[[float], None] = time.sleep,
    ) -> PinterestClient:
        """The client a function builds per invocation from its settings (ad account, API base, timeout)."""
        return cls(
            base_url=access.pinterest_api_base_url,
            ad_account_id=access.ad_account_id,
            tokens=tokens,
            session=session,
            deadline=deadline,
            metrics=metrics,
            timeout=access.pinterest_timeout_seconds,
            sleep=sleep,
        )

    def create_customer_list(self, name: str, records: Sequence[str]) -> str:
        body = {"name": name, "records": ",".join(records), "list_type": LIST_TYPE}
        created = self._call("POST", f"/ad_accounts/{self._account}/customer_lists", json=body, idempotent=False)
        return _created_id(created, "POST /ad_accounts/{id}/customer_lists")

    def find_customer_list(self, name: str) -> str | None:
        return self._find_by_name(f"/ad_accounts/{self._account}/customer_lists", name)

    def update_customer_list(self, customer_list_id: str, operation: Operation, records: Sequence[str]) -> bool:
        body = {"operation_type": operation.value, "records": ",".join(records)}
        path = f"/ad_accounts/{self._account}/customer_lists/{quote(customer_list_id, safe='')}"
        self._call("PATCH", path, json=body, answer=False)  # a 2xx is all that matters: its body is not read
        return self._ambiguous_attempt

    def create_audience(self, name: str, customer_list_id: str) -> str:
        body = {"name": name, "audience_type": "CUSTOMER_LIST", "rule": {"customer_list_id": customer_list_id}}
        created = self._call("POST", f"/ad_accounts/{self._account}/audiences", json=body, idempotent=False)
        return _created_id(created, "POST /ad_accounts/{id}/audiences")

    def find_audience(self, name: str) -> str | None:
        return self._find_by_name(f"/ad_accounts/{self._account}/audiences", name)

    # -- beyond the port: used by token rotation, the health check and the CLI ---------------------------------------------

    def get_ad_account(self) -> dict[str, Any]:
        return self._call("GET", f"/ad_accounts/{self._account}")

    def get_customer_list(self, customer_list_id: str) -> dict[str, Any]:
        return self._call("GET", f"/ad_accounts/{self._account}/customer_lists/{quote(customer_list_id, safe='')}")

    def get_audience(self, audience_id: str) -> dict[str, Any]:
        return self._call("GET", f"/ad_accounts/{self._account}/audiences/{quote(audience_id, safe='')}")

    # -- plumbing -------------------------------------------------------------------------------------------

    def _find_by_name(self, path: str, name: str) -> str | None:
        """Page through a list, oldest first, for the item of this name. Bounded: by the invocation's time, by
        :data:`MAX_PAGES`, and by a bookmark that repeats (which would page forever)."""
        operation = f"GET {_template(path)}"
        bookmark: str | None = None
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            if not self._deadline.allows(1.0):
                raise PinterestTransientError(f"{operation}: out of time while paging")
            # Oldest first, explicitly (the spec sets no default): of two lists with one name, the first created wins.
            params: dict[str, str | int] = {"page_size": PAGE_SIZE, "order": "ASCENDING"}
            if bookmark:
                params["bookmark"] = bookmark
            page = self._call("GET", path, params=params)
            items = page.get("items")  # required: a page without it is no evidence that the name is free
            if not isinstance(items, list):
                raise PinterestAnswerError(f"{operation}: the page's items is missing or not a list")
            for item in items:
                if not isinstance(item, dict):
                    raise PinterestAnswerError(f"{operation}: a page item is not an object")
                if item.get("name") == name:
                    identifier = pinterest_id(item.get("id"))
                    if identifier is None:
                        raise PinterestAnswerError(f"{operation}: the item of that name has no valid id")
                    return identifier
            bookmark = page.get("bookmark")
            if bookmark is None or bookmark == "":
                return None
            if not isinstance(bookmark, str) or bookmark in seen:
                raise PinterestAnswerError(f"{operation}: the page's bookmark repeats, or is not a string")
            seen.add(bookmark)
        raise PinterestAnswerError(f"{operation}: more than {MAX_PAGES} pages")

    def _call(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, str | int] | None = None,
        idempotent: bool = True,
        answer: bool = True,
    ) -> dict[str, Any]:
        operation = f"{method} {_template(path)}"
        attempt = 0
        token_reread = force_refresh = False
        self._ambiguous_attempt = False
        while True:
            attempt += 1
            try:
                headers = {"Authorization": f"Bearer {self._tokens.access_token(force_refresh=force_refresh)}"}
            except TokenUnavailableError as error:
                raise PinterestTokenUnavailableError(f"{operation}: {error}") from None
            force_refresh = False
            started = time.monotonic()
            try:
                response = self._session.request(
                    method,
                    self._base_url + path,
                    json=json,
                    params=params,
                    headers=headers,
                    timeout=self._timeout_now(),
                    stream=True,  # the body is read by read_body: bounded in size and in time
                    allow_redirects=False,
                )
            except requests.RequestException as error:
                # Connection refused or reset, timeouts, and a body cut off mid-way (ChunkedEncodingError) alike:
                # the call may or may not have been applied.
                self._record_call(started, "error")
                failure = PinterestTransientError(f"{operation}: {type(error).__name__}")
                self._wait_or_raise(failure, self._policy.backoff(attempt, self._rng), attempt, retry=idempotent)
                self._ambiguous_attempt = True
                continue
            status = response.status_code
            try:
                with response:  # closed before any wait: a streamed answer holds its connection until then
                    body = _read_answer(response, self._deadline, answer=answer)
            except _UNREADABLE as error:  # a 2xx cut off mid-way, or arriving past the deadline: as a connection error
                self._record_call(started, "error")
                cause = "out of time" if isinstance(error, _OutOfTimeError) else type(error).__name__
                failure = PinterestTransientError(f"{operation}: {cause} reading the answer", status=status)
                self._wait_or_raise(failure, self._policy.backoff(attempt, self._rng), attempt, retry=idempotent)
                continue
            self._record_call(started, str(status))
            if 300 <= status < 400:  # applied or not, nobody can say: ambiguous, like a timeout
                raise PinterestAnswerError(f"{operation}: HTTP {status}, a redirect (not followed)", status=status)
            if status < 200:  # an interim answer (http.client passes any but 100 on): the final one never came
                raise PinterestAnswerError(f"{operation}: HTTP {status}, an interim answer", status=status)
            if 200 <= status < 300:
                if not answer:
                    return {}
                if body is None:
                    raise PinterestAnswerError(
                        f"{operation}: the answer is larger than {MAX_ANSWER_BYTES} bytes", status=status
                    )
                return _json_object(body, status)
            code = error_code(body)
            if status == 401 and not token_reread:
                token_reread = force_refresh = True
                logger.info("Pinterest answered 401; re-reading the token secret", extra={"operation": operation})
                continue
            if status == 401:
                raise PinterestAuthError(f"{operation}: unauthorized after re-reading the token", status=401, code=code)
            if status == 429:
                self._metrics.add_metric(MetricName.PINTEREST_RATE_LIMITED, MetricUnit.Count, 1)
                wait = self._policy.rate_limit_wait(response.headers, attempt, self._rng)
                limited = PinterestRateLimitedError(f"{operation}: rate limited", status=429, code=code)
                self._wait_or_raise(limited, wait, attempt, retry=True)
                continue
            if status >= 500:
                failure = PinterestTransientError(f"{operation}: HTTP {status}", status=status, code=code)
                self._wait_or_raise(failure, self._policy.backoff(attempt, self._rng), attempt, retry=idempotent)
                self._ambiguous_attempt = True
                continue
            if status == 400:
                raise PinterestRejectedError(f"{operation}: rejected (code {code})", status=status, code=code)
            if status == 404:
                raise PinterestNotFoundError(f"{operation}: not found (code {code})", status=status, code=code)
            raise PinterestPermanentError(f"{operation}: HTTP {status} (code {code})", status=status, code=code)

    def _wait_or_raise(self, error: PinterestError, wait: float, attempt: int, *, retry: bool) -> None:
        if not retry or attempt >= self._policy.max_attempts or not self._deadline.allows(wait + self._timeout):
            # Often raised while handling requests' exception, whose text may quote the URL or a header (the token):
            # never shown with it.
            raise error from None
        logger.info(
            "Retrying Pinterest call", extra={"reason": error.reason, "attempt": attempt, "wait_s": round(wait, 2)}
        )
        self._sleep(wait)

    def _timeout_now(self) -> float:
        """Never wait on a socket past the invocation's usable time."""
        return max(1.0, min(self._timeout, self._deadline.usable_seconds()))

    def _record_call(self, started: float, outcome: str) -> None:
        self._metrics.add_metric(MetricName.PINTEREST_CALLS, MetricUnit.Count, 1)
        self._metrics.add_metric(
            MetricName.PINTEREST_LATENCY, MetricUnit.Milliseconds, (time.monotonic() - started) * 1000
        )
        if outcome == "error":
            self._metrics.add_metric(MetricName.PINTEREST_CONNECTION_ERRORS, MetricUnit.Count, 1)


def pinterest_id(value: Any) -> str | None:
    """An object id as the spec defines them (a string of 1 to 18 digits; an integer is accepted), else None."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    return value if isinstance(value, str) and _ID.fullmatch(value) else None


def _created_id(created: Mapping[str, Any], operation: str) -> str:
    """A 2xx create without a valid id may still have created the object: transient (ambiguous), like a timeout."""
    identifier = pinterest_id(created.get("id"))
    if identifier is None:
        raise PinterestTransientError(f"{operation}: answered without a valid id")
    return identifier


class _OutOfTimeError(Exception):
    """The invocation's usable time ran out while an answer was still arriving."""


# What reading a streamed body may raise: requests' errors, urllib3's (a body cut off, a read timeout, an encoding
# that does not decode), the socket's, and running out of time.
TRANSPORT_ERRORS = (requests.RequestException, urllib3.exceptions.HTTPError, OSError)
_UNREADABLE = (*TRANSPORT_ERRORS, _OutOfTimeError)


def read_body(response: requests.Response, limit: int, deadline: Deadline | None = None) -> bytes | None:
    """The body of a response requested with ``stream=True``, decoded as it arrives; None once it passes ``limit``
    bytes (the rest is neither read nor decompressed: a gzip bomb stays small, as urllib3 2.6+ decompresses no more
    than a read asks for, CVE-2025-66471; requirements.txt pins a later one). Each read takes what one read of the
    socket brings, so the deadline is checked at least once per socket timeout: requests' timeout bounds each read,
    not the body, and a byte every few seconds never times out. Raises what the transport raises, and
    :class:`_OutOfTimeError`."""
    body = bytearray()
    while True:
        if deadline is not None and not deadline.allows(0.0):
            raise _OutOfTimeError
        chunk = response.raw.read1(_READ_BYTES, decode_content=True)
        if not chunk:
            return bytes(body)
        body += chunk
        if len(body) > limit:
            return None


def _read_answer(response: requests.Response, deadline: Deadline, *, answer: bool) -> bytes | None:
    """What the client needs of a body: a 2xx's whole (bounded) when it reads the answer; otherwise the start of it,
    for the error code (read at all so the connection can be reused), whose failure to arrive changes nothing."""
    status = response.status_code
    if status < 200 or 300 <= status < 400:
        return None
    if 200 <= status < 300 and answer:
        return read_body(response, MAX_ANSWER_BYTES, deadline)
    try:
        return read_body(response, MAX_ERROR_BYTES, deadline)
    except _UNREADABLE:
        return None


def _json_object(body: bytes, status: int) -> dict[str, Any]:
    if not body:
        return {}
    try:
        parsed = json_module.loads(body)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
        raise PinterestAnswerError("Pinterest answered with a body that is not JSON", status=status) from None
    if not isinstance(parsed, dict):
        raise PinterestAnswerError("Pinterest answered with JSON that is not an object", status=status)
    return parsed


def error_code(body: bytes | None) -> int | None:
    """Pinterest's ``{code, message}`` error code, if the body (as :func:`read_body` gives it) has a plausible one."""
    if not body:
        return None
    try:
        parsed = json_module.loads(body)
    except (ValueError, RecursionError):
        return None
    code = parsed.get("code") if isinstance(parsed, dict) else None
    return code if isinstance(code, int) and not isinstance(code, bool) and code in _CODES else None


def _template(path: str) -> str:
    """``/ad_accounts/123/customer_lists/456`` → ``/ad_accounts/{id}/customer_lists/{id}`` for logs."""
    return "/".join("{id}" if part.isdigit() else part for part in path.split("/"))

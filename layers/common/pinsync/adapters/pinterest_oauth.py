"""Pinterest's OAuth token endpoint and the "can this token read the ad account" check, over HTTP.

``POST {base}/oauth/token`` with HTTP Basic ``client_id:client_secret`` and a form body. The call is **not**
retried: with continuous refresh, Pinterest may have rotated (and revoked) the refresh token even when the
answer was lost, so a blind retry could only earn an invalid grant. The rotation protocol retries the whole step
instead. Errors carry the HTTP status and Pinterest's error code, never a response body or a token. A redirect is
never followed: a 307 or 308 would repeat the form, and its refresh token, to wherever it points.
"""

from __future__ import annotations

import json
from typing import Any

import requests
from pydantic import ValidationError

from pinsync.adapters.pinterest_ads import (
    MAX_ANSWER_BYTES,
    MAX_ERROR_BYTES,
    TRANSPORT_ERRORS,
    PinterestClient,
    error_code,
    read_body,
)
from pinsync.core.deadline import Deadline
from pinsync.core.errors import InvalidGrantError, PinterestAnswerError, PinterestError, PinterestTransientError
from pinsync.core.observability import MetricsSink
from pinsync.rotation.model import RECONNECT_HINT, TokenGrant

TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path, not a credential
OPERATION = f"POST {TOKEN_PATH}"
CODE_INVALID_GRANT = 283  # "The authorization grant is invalid"

__all__ = ["PinterestAccountCheck", "PinterestOAuthClient", "StaticToken"]


class PinterestOAuthClient:
    """The :class:`pinsync.rotation.protocol.OAuthTokens` port (and the code exchange `pinsync connect` uses)."""

    def __init__(self, *, base_url: str, session: requests.Session, timeout: float = 10.0) -> None:
        self._url = base_url.rstrip("/") + TOKEN_PATH
        self._session = session
        self._timeout = timeout

    def refresh(self, client_id: str, client_secret: str, refresh_token: str) -> TokenGrant:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "continuous_refresh": "true"}
        return self._grant(client_id, client_secret, form)

    def exchange_code(self, client_id: str, client_secret: str, code: str, redirect_uri: str) -> TokenGrant:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        return self._grant(client_id, client_secret, form)

    def _grant(self, client_id: str, client_secret: str, form: dict[str, str]) -> TokenGrant:
        try:
            response = self._session.post(
                self._url,
                data=form,
                auth=(client_id, client_secret),
                headers={"Accept": "application/json"},
                timeout=self._timeout,
                stream=True,  # read by read_body, within a bound
                allow_redirects=False,
            )
            with response:
                status = response.status_code
                body = read_body(response, MAX_ANSWER_BYTES if response.ok else MAX_ERROR_BYTES)
        except TRANSPORT_ERRORS as error:
            # connection, timeout, or a body cut off mid-way
            raise PinterestTransientError(f"{OPERATION}: {type(error).__name__}") from None
        code = error_code(body)
        if 300 <= status < 400:  # no 2xx: nothing says the refresh happened (the rotation tries again)
            raise PinterestTransientError(f"{OPERATION}: HTTP {status}, a redirect (not followed)", status=status)
        if 200 <= status < 300:
            try:
                if body is None:
                    raise ValueError("larger than any token response")
                return TokenGrant.model_validate(json.loads(body))
            except (ValueError, ValidationError, RecursionError):
                # 2xx: Pinterest may well have refreshed (and revoked the old refresh token) all the same.
                raise PinterestAnswerError(f"{OPERATION}: the answer is not a token response", status=status) from None
        if status == 400 or (status in (401, 403) and code == CODE_INVALID_GRANT):
            # Pinterest answers a bad grant with code 283, seen with HTTP 401 (pinterest-python-sdk#114) and 400.
            raise InvalidGrantError(
                f"{OPERATION}: invalid grant (HTTP {status}, code {code}): the refresh token or authorization code is "
                f"expired, revoked or already used; {RECONNECT_HINT}",
                status=status,
                code=code,
            )
        if status in (401, 403):
            raise InvalidGrantError(
                f"{OPERATION}: Pinterest refused the app credentials (HTTP {status}, code {code}); check the client "
                f"id and secret, then {RECONNECT_HINT}",
                status=status,
                code=code,
            )
        if status == 429 or status >= 500:
            raise PinterestTransientError(f"{OPERATION}: HTTP {status} (code {code})", status=status, code=code)
        raise PinterestError(f"{OPERATION}: HTTP {status} (code {code})", status=status, code=code)


class StaticToken:
    """A token source for one known access token (a token being tested, before it is stored anywhere)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def access_token(self, *, force_refresh: bool = False) -> str:
        return self._token


class PinterestAccountCheck:
    """The :class:`pinsync.rotation.protocol.AccountCheck` port: ``GET /ad_accounts/{id}`` with the given token, through
    :class:`PinterestClient` (so 429 and 5xx are retried within the invocation's time)."""

    def __init__(
        self,
        *,
        base_url: str,
        ad_account_id: str,
        session: requests.Session,
        deadline: Deadline,
        metrics: MetricsSink,
        timeout: float = 10.0,
        **client_options: Any,
    ) -> None:
        self._base_url = base_url
        self._ad_account_id = ad_account_id
        self._session = session
        self._deadline = deadline
        self._metrics = metrics
        self._timeout = timeout
        self._options = client_options

    def check(self, access_token: str) -> dict[str, Any]:
        return self.read(access_token)

    def read(self, access_token: str) -> dict[str, Any]:
        client = PinterestClient(
            base_url=self._base_url,
            ad_account_id=self._ad_account_id,
            tokens=StaticToken(access_token),
            session=self._session,
            deadline=self._deadline,
            metrics=self._metrics,
            timeout=self._timeout,
            **self._options,
        )
        return client.get_ad_account()

"""Pinterest-shaped API errors (`{"code": int, "message": str}`) and the codes the emulator uses."""

from __future__ import annotations

from collections.abc import Mapping

# Codes taken from the examples in Pinterest's OpenAPI description (v5.23.0).
CODE_INVALID_REQUEST = 1  # "Invalid request: ..." / "Invalid parameters."
CODE_AUTHENTICATION_FAILED = 2  # 401 "Authentication failed."
CODE_INSUFFICIENT_SCOPE = 3  # 401 "Your token does not have sufficient permissions..."
CODE_RATE_LIMITED = 8  # 429
CODE_NOT_PERMITTED = 29  # 403 "You are not permitted to access that resource."
# /oauth/token for a bad code or refresh token. The spec lists no status for it; public reports show HTTP 401 with
# {"code": 283, "message": "The authorization grant is invalid"} (pinterest/pinterest-python-sdk#114, fixed in #123).
CODE_INVALID_GRANT = 283
CODE_NOT_FOUND = 404  # the spec's "X not found." examples mostly use code 404
CODE_METHOD_NOT_ALLOWED = 405
CODE_NOT_IMPLEMENTED = 501  # an operation of the spec the emulator does not implement

MSG_AUTHENTICATION_FAILED = "Authentication failed."
MSG_INSUFFICIENT_SCOPE = "Your token does not have sufficient permissions to perform this operation."
MSG_RATE_LIMITED = (
    "This request exceeded a rate limit. This can happen if the client exceeds one of the published rate limits "
    "within a short time window."
)
MSG_INVALID_GRANT = "The authorization grant is invalid"


class ApiError(Exception):
    """An error answered to the client as `{"code": code, "message": message}` with HTTP `status`."""

    def __init__(self, status: int, code: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{status} code={code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers: dict[str, str] = dict(headers or {})

    def body(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message}


def invalid_request(detail: str) -> ApiError:
    return ApiError(400, CODE_INVALID_REQUEST, f"Invalid request: {detail}")


def authentication_failed() -> ApiError:
    return ApiError(401, CODE_AUTHENTICATION_FAILED, MSG_AUTHENTICATION_FAILED)


def insufficient_scope() -> ApiError:
    return ApiError(401, CODE_INSUFFICIENT_SCOPE, MSG_INSUFFICIENT_SCOPE)


def invalid_grant() -> ApiError:
    return ApiError(401, CODE_INVALID_GRANT, MSG_INVALID_GRANT)


def not_permitted() -> ApiError:
    return ApiError(403, CODE_NOT_PERMITTED, "You are not permitted to access that resource.")


def not_found(what: str) -> ApiError:
    return ApiError(404, CODE_NOT_FOUND, f"{what} not found.")


def rate_limited(reset_seconds: int, send_retry_after: bool) -> ApiError:
    headers = {"X-RateLimit-Reset": str(reset_seconds)}
    if send_retry_after:
        headers["Retry-After"] = str(reset_seconds)
    return ApiError(429, CODE_RATE_LIMITED, MSG_RATE_LIMITED, headers)


class DropConnection(ConnectionError):
    """Raised by the WSGI app to make the server close the socket without writing any response.

    It subclasses ConnectionError because werkzeug's request handler routes ConnectionError to its
    `connection_dropped` hook instead of answering 500 (see server.py).
    """

"""The bearer-token authorizer of the door (API Gateway TOKEN authorizer, ``functions/ingest_authorizer``): pure.

API Gateway calls it with ``{"type": "TOKEN", "authorizationToken": "<the Authorization header>", "methodArn":
"arn:<partition>:execute-api:<region>:<account>:<api id>/<stage>/<verb>/<resource>"}`` and expects an IAM policy
back (API Gateway developer guide, "Input to an API Gateway Lambda authorizer" and "Output from an API Gateway Lambda
authorizer"):

- a missing or malformed header: the function raises an error whose message is exactly ``Unauthorized``, which API
  Gateway turns into a 401 (the authorizer's IdentityValidationExpression, ``door.BEARER_PATTERN``, already answers
  401 before the function is called; this is the same rule again);
- a well-formed token that is not the ingest token, or no usable expected token (the secret is read but malformed,
  a configuration error): a Deny policy, which API Gateway answers 403 and caches for the token;
- the secret cannot be read at all (Secrets Manager throttled, unreachable, access denied): no policy; the runtime
  lets ``IngestTokenUnavailableError`` fail the invocation, which API Gateway answers 503 (the gateway responses
  AUTHORIZER_FAILURE and AUTHORIZER_CONFIGURATION_ERROR, ``door.Answers.AUTHORIZER_UNAVAILABLE``), caches for no
  token, and the producer retries. A cached Deny would refuse the right token for 5 minutes, and Adobe Experience
  Platform drops a request after two retries;
- the ingest token: an Allow policy on POST /profiles of this API's stage. API Gateway caches the policy per token
  for the authorizer's TTL (300 s) and applies it to every method of the API, so the policy names the route, not the
  method ARN of the one request.

Neither the policy nor the error ever carries the token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pinsync.ingest.door import RESOURCE, bearer_token, token_matches

PRINCIPAL_ID = "ingest"
UNAUTHORIZED = "Unauthorized"  # API Gateway answers 401 to this exact error message, and only to it
_METHOD_ARN = re.compile(r"^(arn:aws[a-z-]*:execute-api:[a-z0-9-]+:\d{12}:[A-Za-z0-9]+)/([A-Za-z0-9_-]+)/")


class UnauthorizedError(Exception):
    """Raised for a missing or malformed Authorization header; its message is always ``Unauthorized``."""

    def __init__(self) -> None:
        super().__init__(UNAUTHORIZED)


def _policy(effect: str, resource: str) -> dict[str, Any]:
    return {
        "principalId": PRINCIPAL_ID,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
    }


def route_arn(method_arn: object) -> str | None:
    """``<api arn>/<stage>/POST/profiles`` of the API and stage a method ARN belongs to; None when it is not one."""
    match = _METHOD_ARN.match(method_arn) if isinstance(method_arn, str) else None
    return f"{match.group(1)}/{match.group(2)}/POST/{RESOURCE}" if match else None


def authorize(event: Mapping[str, Any], expected: str | None) -> dict[str, Any]:
    """The policy for a TOKEN authorizer event, given the ingest token (None: the secret is malformed).

    Raises :class:`UnauthorizedError` when the header is missing or not ``Bearer <token>``."""
    header = event.get("authorizationToken")
    token = bearer_token(header) if isinstance(header, str) else None
    if token is None:
        raise UnauthorizedError
    route = route_arn(event.get("methodArn"))
    if route is None or expected is None or not token_matches(token, expected):
        return _policy("Deny", route or "*")
    return _policy("Allow", route)

"""The door's bearer token in Secrets Manager (``IngestTokenSecret``), read through powertools parameters with a
cache.

Two failures, told apart because API Gateway treats their outcomes differently:

- the secret cannot be *read* (throttled, network, access denied, deleted): :class:`IngestTokenUnavailableError` is
  raised, so the authorizer's invocation fails and API Gateway answers 5xx, which it does not cache and the producer
  retries. A Deny here would be cached for the token for the authorizer's TTL (5 minutes) and every request in that
  time refused with a 403, which Adobe Experience Platform drops after two retries;
- the secret is read but malformed (not ``{"token": "<at least 32 characters>"}``): a configuration error no retry
  fixes, so None, and every request is denied.

Either way an error log line names the problem (an error type or code, the fields at fault), never the value.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError
from botocore.exceptions import ClientError
from pydantic import ValidationError

from pinsync.core.observability import logger
from pinsync.ingest.door import IngestTokenSecret


class IngestTokenUnavailableError(Exception):
    """The ingest token secret could not be read; the message is fixed and names no value."""

    MESSAGE = "the ingest token secret cannot be read; retry"

    def __init__(self) -> None:
        super().__init__(self.MESSAGE)


def _error_code(error: BaseException) -> str | None:
    """The AWS error code (``ThrottlingException``, ``AccessDeniedException``...) behind powertools' wrapper, if any."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ClientError):
            code = seen.response.get("Error", {}).get("Code")
            return str(code) if code else None
        seen = seen.__cause__ or seen.__context__
    return None


class SecretsManagerIngestToken:
    def __init__(self, secret_id: str, *, max_age: int = 300, boto3_client: Any = None) -> None:
        self._secret_id = secret_id
        self._max_age = max_age
        self._provider = SecretsProvider(boto3_client=boto3_client)

    def expected(self, *, force_refresh: bool = False) -> str | None:
        """The token requests must present; None when the secret is not ``{"token": <32+ characters>}``.

        Raises :class:`IngestTokenUnavailableError` when Secrets Manager cannot be read."""
        unreadable: dict[str, str] | None = None
        try:
            value = self._provider.get(
                self._secret_id,
                transform="json",
                max_age=self._max_age,
                force_fetch=force_refresh,
                VersionStage="AWSCURRENT",
            )
        except TransformParameterError:
            # Read, but not JSON. The error's text can quote the secret (a JSON parse error does): not logged.
            logger.error(
                "the ingest token secret is malformed; denying every request",
                extra={"problem_fields": ["whole document"]},
            )
            return None
        except GetParameterError as error:
            # Only the error's type and AWS code: its text is the SDK's, which names the secret, never its value.
            unreadable = {"error": type(error).__name__, "error_code": _error_code(error) or "unknown"}
        if unreadable is not None:
            logger.error("cannot read the ingest token secret; failing the invocation", extra=unreadable)
            # Raised outside the except block, so that it carries no chained exception (and no SDK text) along.
            raise IngestTokenUnavailableError
        try:
            return IngestTokenSecret.model_validate(value).token.get_secret_value()
        except ValidationError as error:
            fields = sorted({str(item["loc"][0]) for item in error.errors(include_input=False) if item["loc"]})
            logger.error(
                "the ingest token secret is malformed; denying every request",
                extra={"problem_fields": fields or ["whole document"]},
            )
            return None

    def clear_cache(self) -> None:
        """Forget the cached value: the next read asks Secrets Manager."""
        self._provider.clear_cache()  # type: ignore[no-untyped-call]

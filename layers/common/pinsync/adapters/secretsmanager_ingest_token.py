"""The door's bearer token in Secrets Manager (``IngestTokenSecret``), read through powertools parameters with a
cache. A secret that cannot be read or is malformed yields None (every request is denied) and an error log line that
names the problem, never the value."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError
from pydantic import ValidationError

from pinsync.core.observability import logger
from pinsync.ingest.door import IngestTokenSecret


class SecretsManagerIngestToken:
    def __init__(self, secret_id: str, *, max_age: int = 300, boto3_client: Any = None) -> None:
        self._secret_id = secret_id
        self._max_age = max_age
        self._provider = SecretsProvider(boto3_client=boto3_client)

    def expected(self, *, force_refresh: bool = False) -> str | None:
        """The token requests must present; None when the secret cannot be read or is not ``{"token": ...}``."""
        try:
            value = self._provider.get(
                self._secret_id,
                transform="json",
                max_age=self._max_age,
                force_fetch=force_refresh,
                VersionStage="AWSCURRENT",
            )
        except (GetParameterError, TransformParameterError) as error:
            # The error's text can quote the secret (a JSON parse error does): only its type is logged.
            logger.error(
                "cannot read the ingest token secret; denying every request", extra={"error": type(error).__name__}
            )
            return None
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

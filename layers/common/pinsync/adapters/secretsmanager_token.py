"""The token secret in Secrets Manager, read through powertools parameters with a short cache."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError
from pydantic import ValidationError

from pinsync.core.errors import TokenUnavailableError
from pinsync.tokens import TokenSecret


class SecretsManagerTokenSource:
    """Reads AWSCURRENT of the token secret; ``force_refresh`` bypasses the cache (used after a 401)."""

    def __init__(self, secret_id: str, *, max_age: int = 60, boto3_client: Any = None) -> None:
        self._secret_id = secret_id
        self._max_age = max_age
        self._provider = SecretsProvider(boto3_client=boto3_client)

    def current(self, *, force_refresh: bool = False) -> TokenSecret:
        try:
            value = self._provider.get(
                self._secret_id,
                transform="json",
                max_age=self._max_age,
                force_fetch=force_refresh,
                VersionStage="AWSCURRENT",  # explicit: moto (and clarity) want it
            )
        except (GetParameterError, TransformParameterError) as error:
            raise TokenUnavailableError(f"cannot read the token secret: {type(error).__name__}") from None
        try:
            return TokenSecret.model_validate(value)
        except ValidationError as error:
            if not force_refresh:  # the cached value may predate `pinsync connect`: look again once
                return self.current(force_refresh=True)
            fields = sorted({str(item["loc"][0]) for item in error.errors(include_input=False) if item["loc"]})
            raise TokenUnavailableError(
                "the token secret is not connected or malformed (problem fields: "
                f"{', '.join(fields) or 'whole document'}); run `pinsync connect`"
            ) from None

    def access_token(self, *, force_refresh: bool = False) -> str:
        return self.current(force_refresh=force_refresh).access_token.get_secret_value()

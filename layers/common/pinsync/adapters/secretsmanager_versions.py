"""The token secret's versions and staging labels in Secrets Manager (the :class:`pinsync.rotation.ports.SecretVersions`
port), plus what `pinsync connect` and `pinsync status` need.

``VersionStage`` is always passed explicitly: harmless against AWS, and moto's default-version shortcut otherwise
returns a stale value after a stage move. Error messages carry the AWS error code only, never a secret value.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ConnectionClosedError, EndpointConnectionError

from pinsync.core.errors import SecretStoreError, VersionConflictError
from pinsync.core.observability import logger
from pinsync.rotation.model import AWSCURRENT, AWSPENDING, SecretDescription

_NO_VALUE = frozenset({"ResourceNotFoundException"})
_RETRYABLE = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "InternalServiceError", "ServiceUnavailable"}
)


@dataclass(frozen=True)
class VersionInfo:
    version_id: str
    stages: frozenset[str]
    created: datetime | None


class SecretsManagerVersions:
    """Secrets Manager over a boto3 client. ``put_pending`` retries throttling and 5xx (it holds the only copy of
    a freshly rotated refresh token); the other calls rely on boto3's own retries."""

    def __init__(
        self,
        client: Any,
        *,
        put_attempts: int = 5,
        base_backoff: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._client = client
        self._put_attempts = put_attempts
        self._base_backoff = base_backoff
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography

    # -- the rotation port ------------------------------------------------------------------------------------

    def describe(self, secret_id: str) -> SecretDescription:
        described = self._call("DescribeSecret", self._client.describe_secret, SecretId=secret_id)
        versions = {
            version: frozenset(stages) for version, stages in (described.get("VersionIdsToStages") or {}).items()
        }
        return SecretDescription(
            rotation_enabled=bool(described.get("RotationEnabled")),
            versions=versions,
            last_rotated=described.get("LastRotatedDate"),
            next_rotation=described.get("NextRotationDate"),
        )

    def get_value(self, secret_id: str, *, stage: str, version_id: str | None = None) -> str | None:
        params: dict[str, str] = {"SecretId": secret_id, "VersionStage": stage}
        if version_id is not None:
            params["VersionId"] = version_id
        try:
            answer = self._client.get_secret_value(**params)
        except ClientError as error:
            if _code(error) in _NO_VALUE:
                return None
            raise SecretStoreError(f"GetSecretValue failed ({_code(error)})") from None
        except BotoCoreError as error:
            raise SecretStoreError(f"GetSecretValue failed ({type(error).__name__})") from None
        value = answer.get("SecretString")
        return value if isinstance(value, str) else None

    def put_pending(self, secret_id: str, token: str, value: str, *, rotation_token: str | None = None) -> None:
        params: dict[str, Any] = {
            "SecretId": secret_id,
            "ClientRequestToken": token,
            "SecretString": value,
            "VersionStages": [AWSPENDING],
        }
        if rotation_token:
            params["RotationToken"] = rotation_token
        attempt = 0
        while True:
            attempt += 1
            try:
                self._client.put_secret_value(**params)
                return
            except ClientError as error:
                code = _code(error)
                if code == "ResourceExistsException":
                    raise VersionConflictError(
                        "PutSecretValue refused: this version already exists with a different value"
                    ) from None
                retryable = code in _RETRYABLE or _status(error) >= 500
                failure = SecretStoreError(f"PutSecretValue failed ({code})")
            except (EndpointConnectionError, ConnectionClosedError) as error:
                retryable = True
                failure = SecretStoreError(f"PutSecretValue failed ({type(error).__name__})")
            except BotoCoreError as error:
                retryable = False
                failure = SecretStoreError(f"PutSecretValue failed ({type(error).__name__})")
            if not retryable or attempt >= self._put_attempts:
                raise failure
            wait = self._rng.uniform(0, self._base_backoff * 2 ** (attempt - 1))
            logger.warning("Retrying PutSecretValue", extra={"attempt": attempt, "wait_s": round(wait, 2)})
            self._sleep(wait)

    def move_current(self, secret_id: str, token: str, from_version: str | None) -> None:
        params: dict[str, str] = {"SecretId": secret_id, "VersionStage": AWSCURRENT, "MoveToVersionId": token}
        if from_version is not None:
            params["RemoveFromVersionId"] = from_version
        self._call("UpdateSecretVersionStage", self._client.update_secret_version_stage, **params)

    # -- for the CLI ------------------------------------------------------------------------------------------

    def put_current(self, secret_id: str, value: str) -> str:
        """``PutSecretValue`` without stages: the new version becomes AWSCURRENT (the old one AWSPREVIOUS)."""
        answer = self._call("PutSecretValue", self._client.put_secret_value, SecretId=secret_id, SecretString=value)
        return str(answer["VersionId"])

    def remove_stage(self, secret_id: str, stage: str, version_id: str) -> None:
        self._call(
            "UpdateSecretVersionStage",
            self._client.update_secret_version_stage,
            SecretId=secret_id,
            VersionStage=stage,
            RemoveFromVersionId=version_id,
        )

    def versions(self, secret_id: str) -> list[VersionInfo]:
        answer = self._call("ListSecretVersionIds", self._client.list_secret_version_ids, SecretId=secret_id)
        return [
            VersionInfo(item["VersionId"], frozenset(item.get("VersionStages") or []), item.get("CreatedDate"))
            for item in answer.get("Versions", [])
        ]

    @staticmethod
    def _call(operation: str, method: Callable[..., Any], **params: Any) -> Any:
        try:
            return method(**params)
        except ClientError as error:
            raise SecretStoreError(f"{operation} failed ({_code(error)})") from None
        except BotoCoreError as error:
            raise SecretStoreError(f"{operation} failed ({type(error).__name__})") from None


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "Unknown"))


def _status(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)

"""Composition root of the ingest authorizer: settings and a Secrets Manager client in, one policy per invocation out.

``functions/ingest_authorizer/app.py`` builds it once per cold start; tests build it with their own settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pinsync.adapters.secretsmanager_ingest_token import SecretsManagerIngestToken
from pinsync.core.observability import logger, quiet_sdk_loggers
from pinsync.ingest.authorizer import authorize
from pinsync.ingest.settings import IngestAuthorizerSettings


@dataclass
class IngestAuthorizerRuntime:
    tokens: SecretsManagerIngestToken

    def handle(self, event: Any) -> dict[str, Any]:
        """The event holds the bearer token: it is never logged, only the decision is.

        Raises ``IngestTokenUnavailableError`` (fixed message, no value) when the secret cannot be read: it is let
        through, so the invocation fails and API Gateway answers 503 without caching a verdict for the token."""
        policy = authorize(event if isinstance(event, dict) else {}, self.tokens.expected())
        effect = policy["policyDocument"]["Statement"][0]["Effect"]
        if effect != "Allow":
            logger.warning("ingest request denied", extra={"effect": effect})
        return policy


def build_runtime(settings: IngestAuthorizerSettings, secretsmanager: Any) -> IngestAuthorizerRuntime:
    quiet_sdk_loggers()
    return IngestAuthorizerRuntime(
        tokens=SecretsManagerIngestToken(
            settings.ingest_token_secret_id, max_age=settings.ingest_token_cache_seconds, boto3_client=secretsmanager
        )
    )

"""Ingest authorizer: API Gateway's TOKEN authorizer of the door in BearerToken mode (``pinsync.ingest.authorizer``).

The event holds the presented token and is never logged. When the ingest token secret cannot be read, the
invocation fails with ``IngestTokenUnavailableError`` (a fixed message): API Gateway answers 503 and caches nothing.
"""

from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext
from pinsync.core.observability import instrumented
from pinsync.core.settings import load_settings
from pinsync.ingest.runtime import IngestAuthorizerRuntime, build_runtime
from pinsync.ingest.settings import IngestAuthorizerSettings


@cache
def runtime() -> IngestAuthorizerRuntime:
    """Built on the first invocation (not at import) so a configuration error fails it with a clear message."""
    return build_runtime(load_settings(IngestAuthorizerSettings), boto3.client("secretsmanager"))


@instrumented()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return runtime().handle(event)

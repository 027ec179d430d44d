"""Audience sync: SQS batch of CDP profiles → Pinterest customer lists. Partial batch response."""

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pinsync.core.observability import instrumented
from pinsync.core.settings import load_settings
from pinsync.sync.runtime import SyncClients, SyncRuntime, build_runtime
from pinsync.sync.settings import SyncSettings


@cache
def runtime() -> SyncRuntime:
    """Built on the first invocation (not at import) so a configuration error fails it with a clear message."""
    return build_runtime(load_settings(SyncSettings), SyncClients.create())


@instrumented()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return runtime().handle(event, context)

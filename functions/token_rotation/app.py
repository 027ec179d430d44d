"""Token rotation: the Secrets Manager rotation steps for the Pinterest OAuth token, plus a scheduled expiry check.

The event is never logged (it may carry a ``RotationToken``); the secret's values never reach a log.
"""

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pinsync.core.observability import instrumented
from pinsync.core.settings import load_settings
from pinsync.rotation.runtime import RotationClients, RotationRuntime, build_runtime
from pinsync.rotation.settings import RotationSettings


@cache
def runtime() -> RotationRuntime:
    """Built on the first invocation (not at import) so a configuration error fails it with a clear message."""
    return build_runtime(load_settings(RotationSettings), RotationClients.create())


@instrumented()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return runtime().handle(event, context)

"""Dataflow alerts: alarm state changes, Dataflow Run / Token Rotation reports and Secrets Manager rotation failures
→ one actionable message on the alert topic (and the optional webhook), not repeated within the suppression window.

The event is never logged: the payload of an event the function does not understand must not reach a log.
"""

from functools import cache
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pinsync.alerts.runtime import AlertClients, AlertRuntime, build_runtime
from pinsync.alerts.settings import AlertSettings
from pinsync.core.observability import instrumented
from pinsync.core.settings import load_settings


@cache
def runtime() -> AlertRuntime:
    """Built on the first invocation (not at import) so a configuration error fails it with a clear message."""
    return build_runtime(load_settings(AlertSettings), AlertClients.create())


@instrumented(correlation_id_path=correlation_paths.EVENT_BRIDGE)
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    return runtime().handle(event, context)

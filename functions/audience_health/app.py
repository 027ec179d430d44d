"""Audience health: on a schedule, read every mapped customer list and audience on Pinterest, remember each one's
size and status in the state table, publish per-audience metrics and one ``Audience Health`` event.

The scheduled event carries nothing the check needs and is never logged.
"""

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pinsync.core.observability import instrumented
from pinsync.core.settings import load_settings
from pinsync.health.runtime import HealthClients, HealthRuntime, build_runtime
from pinsync.health.settings import HealthSettings


@cache
def runtime() -> HealthRuntime:
    """Built on the first invocation (not at import) so a configuration error fails it with a clear message."""
    return build_runtime(load_settings(HealthSettings), HealthClients.create())


@instrumented()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return runtime().handle(event, context)

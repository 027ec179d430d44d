"""A local emulator of the Pinterest API v5 endpoints pinsync uses (OAuth, ad accounts, customer lists,
audiences), validating every request against Pinterest's own OpenAPI description. See README.md."""

from .clock import ManualClock
from .config import DEFAULT_AD_ACCOUNT_ID, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, EmulatorConfig
from .errors import ApiError
from .faults import Fault
from .server import EmulatorServer
from .state import EmulatorState
from .validation import get_spec

__all__ = [
    "DEFAULT_AD_ACCOUNT_ID",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "ApiError",
    "EmulatorConfig",
    "EmulatorServer",
    "EmulatorState",
    "Fault",
    "ManualClock",
    "get_spec",
]

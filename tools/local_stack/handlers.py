"""Load a function's ``app.py`` the way Lambda does: by file, as its own module."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from types import ModuleType
from typing import Any

from local_stack.paths import FUNCTIONS

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def load_module(function: str) -> ModuleType:
    path = FUNCTIONS / function / "app.py"
    spec = importlib.util.spec_from_file_location(f"pinsync_functions_{function}_app", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_handler(function: str) -> Handler:
    handler: Handler = load_module(function).lambda_handler
    return handler

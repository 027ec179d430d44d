"""Each function's environment in the template and the settings class its code loads agree.

A variable the code does not read is a typo or dead configuration; a required setting the template does not set
fails the function at its first invocation. Both are caught here instead.
"""

from __future__ import annotations

from typing import Any

import pytest
from pinsync.alerts_wiring import AlertSettings
from pinsync.config import SyncSettings
from pinsync.rotation_wiring import RotationSettings
from pydantic_settings import BaseSettings

FUNCTIONS: dict[str, type[BaseSettings]] = {
    "AudienceSyncFunction": SyncSettings,
    "TokenRotationFunction": RotationSettings,
    "DataflowAlertsFunction": AlertSettings,
}


def variables(sam_template: dict[str, Any], function: str) -> set[str]:
    resource = sam_template["Resources"][function]
    assert resource["Type"] == "AWS::Serverless::Function"
    return set(resource["Properties"].get("Environment", {}).get("Variables", {}))


def test_every_function_is_covered(sam_template: dict[str, Any]) -> None:
    functions = {rid for rid, r in sam_template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    assert functions == set(FUNCTIONS)


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_environment_matches_the_settings_class(function: str, sam_template: dict[str, Any]) -> None:
    settings = FUNCTIONS[function]
    fields = {name.upper() for name in settings.model_fields}
    required = {name.upper() for name, field in settings.model_fields.items() if field.is_required()}
    set_by_template = variables(sam_template, function)
    assert set_by_template - fields == set(), "variables the code never reads"
    assert required - set_by_template == set(), "required settings the template does not set"

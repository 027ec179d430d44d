"""Each function's environment in the template and the settings class its code loads agree.

A variable the code does not read is a typo or dead configuration; a required setting the template does not set
fails the function at its first invocation. Both are caught here instead.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from pinsync.alerts.settings import AlertSettings
from pinsync.health.settings import HealthSettings
from pinsync.ingest.settings import IngestAuthorizerSettings
from pinsync.rotation.settings import RotationSettings
from pinsync.sync.settings import SyncSettings
from pydantic_settings import BaseSettings

from tests.infra.sam_translate import REPO_ROOT

FUNCTIONS: dict[str, type[BaseSettings]] = {
    "AudienceSyncFunction": SyncSettings,
    "TokenRotationFunction": RotationSettings,
    "DataflowAlertsFunction": AlertSettings,
    "AudienceHealthFunction": HealthSettings,
    "IngestAuthorizerFunction": IngestAuthorizerSettings,
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


# Template parameter → the sync function's setting it feeds: same default, and every value the parameter's
# AllowedPattern admits is one the settings class accepts (a deploy must not pass and the first invocation fail).
PARAMETER_SETTINGS = {
    "AdAccountId": "ad_account_id",
    "DestinationName": "destination_name",
    "ActivatedAudiences": "activated_audiences",
    "MaxRecordsPerRequest": "max_records_per_request",
    "IdentityNamespaces": "identity_namespaces",
    "ProfileKeyNamespaces": "profile_key_namespaces",
    "LedgerRetentionDays": "ledger_retention_days",
    "ConsentPolicy": "consent_policy",
    "MaxReceiveCount": "max_receive_count",
    "RetryHorizonHours": "retry_horizon_hours",
}
REQUIRED = {"AD_ACCOUNT_ID": "1", "TOKEN_SECRET_ID": "secret", "STATE_TABLE_NAME": "table"}


@pytest.mark.parametrize("parameter", sorted(PARAMETER_SETTINGS))
def test_parameter_defaults_are_the_code_defaults(parameter: str, sam_template: dict[str, Any]) -> None:
    declared = sam_template["Parameters"][parameter]
    field = SyncSettings.model_fields[PARAMETER_SETTINGS[parameter]]
    if field.is_required():
        assert "Default" not in declared
    else:
        assert str(declared["Default"]) == str(field.default)


@pytest.mark.parametrize(
    ("parameter", "value", "admitted"),
    [
        ("AdAccountId", "549755885175", True),
        ("AdAccountId", "1" * 18, True),
        ("AdAccountId", "1" * 19, False),
        ("IdentityNamespaces", "Email=email,crmEmail=email,GAID=gaid", True),
        ("IdentityNamespaces", "Email=phone", False),
        ("IdentityNamespaces", "Email", False),
        ("ProfileKeyNamespaces", "CRMID,ECID", True),
        ("ProfileKeyNamespaces", "CRMID,,ECID", False),
    ],
)
def test_what_a_parameter_admits_the_function_accepts(
    parameter: str, value: str, admitted: bool, sam_template: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    pattern = sam_template["Parameters"][parameter]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, value)) is admitted
    if admitted:
        for name, default in REQUIRED.items():
            monkeypatch.setenv(name, default)
        monkeypatch.setenv(PARAMETER_SETTINGS[parameter].upper(), value)
        SyncSettings()  # raises if the function would refuse the value


@pytest.mark.parametrize(
    "parameter", ["MaxRecordsPerRequest", "LedgerRetentionDays", "MaxReceiveCount", "RetryHorizonHours"]
)
@pytest.mark.parametrize("bound", ["MinValue", "MaxValue"])
def test_every_number_a_parameter_admits_the_function_accepts(
    parameter: str, bound: str, sam_template: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, default in REQUIRED.items():
        monkeypatch.setenv(name, default)
    value = sam_template["Parameters"][parameter][bound]
    monkeypatch.setenv(PARAMETER_SETTINGS[parameter].upper(), str(value))

    assert float(getattr(SyncSettings(), PARAMETER_SETTINGS[parameter])) == float(value)


def test_the_sam_local_env_file_sets_only_variables_the_template_declares(sam_template: dict[str, Any]) -> None:
    # `sam local invoke --env-vars events/env.json` overrides a function's variables by logical id, and silently
    # ignores any variable the function does not declare in the template: each one here must be declared.
    overrides = json.loads((REPO_ROOT / "events" / "env.json").read_text())
    assert set(overrides) <= set(FUNCTIONS)
    for function, values in overrides.items():
        assert set(values) <= variables(sam_template, function), function
        assert all(isinstance(value, str) for value in values.values())
    activated = overrides["AudienceSyncFunction"]["ACTIVATED_AUDIENCES"].split(",")
    event = json.loads((REPO_ROOT / "events" / "sqs-audience-sync.json").read_text())
    audiences = {a for record in event["Records"] for a in json.loads(record["body"])["segmentMembership"]["ups"]}
    assert audiences <= set(activated)  # the sample event does something

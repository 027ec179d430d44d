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


# docs/configuration.md says the same as the template and the settings classes.
CONFIGURATION = (REPO_ROOT / "docs" / "configuration.md").read_text()
# The paragraph of "The other functions' environment" that documents each function (found by its directory).
FUNCTION_DIRECTORIES = {
    "AudienceHealthFunction": "functions/audience_health",
    "DataflowAlertsFunction": "functions/dataflow_alerts",
    "TokenRotationFunction": "functions/token_rotation",
    "IngestAuthorizerFunction": "functions/ingest_authorizer",
}


def configuration_section(title: str) -> str:
    return CONFIGURATION.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def table_rows(section: str) -> list[list[str]]:
    """The cells of a markdown table's body rows (the header and the separator left out)."""
    rows = [line.strip("|").split(" | ") for line in section.splitlines() if line.startswith("| `")]
    return [[cell.strip() for cell in row] for row in rows]


def documented_default(cell: str) -> str | None:
    """A default as the tables write it: `value`, "empty" or "(required)" (None)."""
    if cell == "(required)":
        return None
    return "" if cell == "empty" else cell.strip("`")


def same_value(documented: str | None, actual: object) -> bool:
    if documented is None or actual is None:
        return documented is None and actual is None
    try:
        return float(documented) == float(str(actual))
    except ValueError:
        return documented == str(actual)


def code_default(settings: type[BaseSettings], variable: str) -> object:
    field = settings.model_fields[variable.lower()]
    return None if field.is_required() else field.default


def test_the_sync_function_table_lists_its_settings_with_their_defaults() -> None:
    documented: dict[str, str | None] = {}
    for first, defaults, *_ in table_rows(configuration_section("The sync function's environment")):
        names = re.findall(r"`([A-Z0-9_]+)`", first)
        values = [documented_default(value.strip()) for value in defaults.split(", ")]
        assert len(names) == len(values), first
        documented.update(zip(names, values, strict=True))
    assert set(documented) == {name.upper() for name in SyncSettings.model_fields}
    wrong = {
        name: value for name, value in documented.items() if not same_value(value, code_default(SyncSettings, name))
    }
    assert wrong == {}


@pytest.mark.parametrize("function", sorted(FUNCTION_DIRECTORIES))
def test_each_other_function_paragraph_names_its_settings_with_their_defaults(function: str) -> None:
    settings = FUNCTIONS[function]
    section = configuration_section("The other functions' environment")
    [paragraph] = [part for part in section.split("\n\n") if f"`{FUNCTION_DIRECTORIES[function]}`" in part]
    named = set(re.findall(r"`([A-Z0-9_]+)`", paragraph))
    assert {name.upper() for name in settings.model_fields} - named == set(), "settings the paragraph does not name"
    # A variable given with its default, `NAME` (`default`...), gives the code's default.
    defaults = dict(re.findall(r"`([A-Z0-9_]+)` \(`([^`]+)`", paragraph))
    wrong = {name: value for name, value in defaults.items() if not same_value(value, code_default(settings, name))}
    assert wrong == {}


def test_the_parameter_table_is_the_templates_parameters_with_their_defaults(sam_template: dict[str, Any]) -> None:
    from pinsync.alerts.model import AlertType

    declared = sam_template["Parameters"]
    documented: dict[str, str | None] = {}
    for first, defaults, *_ in table_rows(configuration_section("Template parameters")):
        names = re.findall(r"`([A-Za-z0-9]+)`", first)
        values = [documented_default(value.strip()) for value in defaults.split(", ")]
        if defaults == "all types":
            values = [",".join(AlertType)]
        assert len(names) == len(values), first
        documented.update(zip(names, values, strict=True))
    assert sorted(documented) == sorted(declared)
    wrong = {name: value for name, value in documented.items() if not same_value(value, declared[name].get("Default"))}
    assert wrong == {}


def test_the_documented_outputs_are_the_templates(sam_template: dict[str, Any]) -> None:
    paragraph = configuration_section("Template parameters").split("\nOutputs: ", 1)[1].split("\n\n", 1)[0]
    named = set(re.findall(r"`([A-Z][A-Za-z0-9]+)`", paragraph)) - {"BearerToken", "OAuth2ClientCredentials"}
    assert named == set(sam_template["Outputs"])


def test_the_documented_token_secret_is_what_the_functions_read() -> None:
    from pinsync.tokens import TokenSecret

    section = configuration_section("The token secret (Secrets Manager, JSON, stage AWSCURRENT)")
    sample = json.loads(section.split("```json", 1)[1].split("```", 1)[0])
    assert set(sample) == set(TokenSecret.model_fields)
    TokenSecret.model_validate(sample)


def test_the_documented_expiry_check_is_what_the_schedule_sends_and_the_function_parses(
    sam_template: dict[str, Any],
) -> None:
    from pinsync.rotation.invocation import ExpiryCheckEvent, parse_event

    [documented] = re.findall(r'`(\{"Check": [^`]+\})`', configuration_section("The other functions' environment"))
    schedules = sam_template["Resources"]["TokenRotationFunction"]["Properties"]["Events"]
    [sent] = [
        json.loads(event["Properties"]["Input"]["Fn::Sub"])
        for event in schedules.values()
        if "Input" in event["Properties"]
    ]
    assert json.loads(documented).keys() == sent.keys()
    assert sent["SecretId"] == "${TokenSecret}"  # the stack's token secret, whose ARN is the TokenSecretArn output
    assert isinstance(parse_event(json.loads(documented)), ExpiryCheckEvent)
    assert isinstance(parse_event(sent), ExpiryCheckEvent)


def test_both_documented_webhook_secret_formats_are_read() -> None:
    from pinsync.adapters.webhook import _url_from

    [row] = [line for line in CONFIGURATION.splitlines() if line.startswith("| `AlertWebhookSecretArn` |")]
    [document] = re.findall(r"`(\{\"url\": [^`]+\})`", row)
    url = json.loads(document)["url"]
    assert "`https://`" in row and url.startswith("https://")
    assert _url_from(document) == url
    assert _url_from(url) == url
    assert _url_from(url.replace("https://", "http://")) is None  # "https://" is the documented scheme

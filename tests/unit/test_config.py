import pytest
from pinsync.core.errors import ConfigurationError
from pinsync.core.settings import load_settings
from pinsync.sync.identities import IdentityKind
from pinsync.sync.membership import ActivationRule
from pinsync.sync.settings import SyncSettings

REQUIRED = {"AD_ACCOUNT_ID": "549755885175", "TOKEN_SECRET_ID": "arn:secret", "STATE_TABLE_NAME": "state"}


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch):
    for name in ("ACTIVATED_AUDIENCES", "MAX_RECORDS_PER_REQUEST", "IDENTITY_NAMESPACES", "PINTEREST_API_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_defaults_and_parsed_views(environment):
    settings = load_settings(SyncSettings)
    assert settings.pinterest_api_base_url == "https://api.pinterest.com/v5"
    assert settings.event_bus_name == "default"
    assert settings.max_records_per_request == 1000
    assert settings.activation == ActivationRule()  # nothing activated until the operator says so
    assert not settings.activation.allows("any", {"status": "realized", "name": "Any", "mappingCreatedAt": 1})
    assert settings.namespaces["email_lc_sha256"] is IdentityKind.EMAIL_SHA256


def test_activated_audiences_as_a_list(environment):
    environment.setenv("ACTIVATED_AUDIENCES", "a, b,,c")
    activation = load_settings(SyncSettings).activation
    assert not activation.everything and activation.audience_ids == {"a", "b", "c"}


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_a_missing_setting_fails_naming_it(environment, missing):
    environment.delenv(missing)
    with pytest.raises(ConfigurationError) as caught:
        load_settings(SyncSettings)
    assert missing in str(caught.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AD_ACCOUNT_ID", "act_123-secret-looking-value"),
        ("MAX_RECORDS_PER_REQUEST", "0"),
        ("IDENTITY_NAMESPACES", "Email=phone"),
        ("PINTEREST_API_BASE_URL", "not a url"),
    ],
)
def test_an_invalid_setting_fails_naming_it_without_echoing_the_value(environment, name, value):
    environment.setenv(name, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings(SyncSettings)
    assert name in str(caught.value)
    assert value not in str(caught.value)

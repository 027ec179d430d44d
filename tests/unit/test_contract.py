import json
from datetime import UTC, datetime

import pytest
from pinsync.events import RejectionReason
from pinsync.sync.contract import ContractError, parse_body

from tests.builders import body, profile


def test_single_profile_and_array_both_parse():
    one = profile({"seg-1": "realized"}, email="a@b.co")
    assert len(parse_body(body(one))) == 1
    assert len(parse_body(body(one, one))) == 2


def test_every_segment_namespace_parses_and_times_become_aware_datetimes():
    document = {
        "segmentMembership": {
            "ups": {"a": {"status": "realized", "lastQualificationTime": "2026-11-28T10:00:00Z"}},
            "other": {"b": {"status": "exited"}},
        },
        "identityMap": {},
    }
    [parsed] = parse_body(json.dumps(document))
    assert parsed["segmentMembership"]["ups"]["a"]["lastQualificationTime"] == datetime(2026, 11, 28, 10, tzinfo=UTC)
    assert parsed["segmentMembership"]["other"] == {"b": {"status": "exited"}}


def test_extra_keys_are_tolerated():
    document = profile({"seg": "existing"}, email="a@b.co")
    document["personID"] = "x"
    document["identityMap"]["Email"][0]["primary"] = True
    assert parse_body(json.dumps(document))[0]["identityMap"]["Email"][0]["id"] == "a@b.co"


@pytest.mark.parametrize("raw", ["", "{", "not json", "\x00"])
def test_non_json_is_poison(raw):
    with pytest.raises(ContractError) as caught:
        parse_body(raw)
    assert caught.value.reason == RejectionReason.INVALID_JSON


@pytest.mark.parametrize(
    "document",
    [
        {},
        [],
        {"identityMap": {}},
        {"segmentMembership": {"ups": {"a": {"status": 3}}}},
        {"segmentMembership": {"ups": {"a": {"status": "realized", "lastQualificationTime": "yesterday"}}}},
        {"segmentMembership": {"ups": {"a": {"status": "realized", "lastQualificationTime": "2026-11-28T10:00:00"}}}},
        {"segmentMembership": {"ups": {}}, "identityMap": {"Email": "a@b.co"}},
        "a string",
        42,
    ],
)
def test_wrong_shapes_are_poison(document):
    with pytest.raises(ContractError) as caught:
        parse_body(json.dumps(document))
    assert caught.value.reason == RejectionReason.INVALID_CONTRACT


def test_contract_errors_never_echo_values():
    secret_email = "victim@example.com"
    document = {"segmentMembership": {"ups": {secret_email: {"status": 3}}}, "identityMap": {"Email": secret_email}}
    with pytest.raises(ContractError) as caught:
        parse_body(json.dumps(document))
    assert secret_email not in str(caught.value)
    assert "identityMap.<key>" in caught.value.detail

"""Property-based tests of message parsing: no body, however malformed, raises out of the parser or the handler,
or costs the other messages of its batch their verdict.

The handler runs as Lambda loads it, with moto in-process for AWS and the Pinterest emulator over HTTP. Expected
verdicts come from how each body was built: bodies built valid must be acknowledged; bodies built broken must be
reported as batch item failures (so they reach the dead-letter queue); arbitrary bodies are reported exactly when
the message contract rejects them, and one that parses is never failed for its odd identities or statuses.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from local_stack.stack import create_state_table, seeded_token_secret
from moto import mock_aws
from pinsync.core.observability import instrumented
from pinsync.sync.contract import ContractError, parse_body
from pinsync.sync.runtime import SyncClients, build_runtime
from pinsync.sync.settings import SyncSettings
from pinterest_emulator import DEFAULT_AD_ACCOUNT_ID, EmulatorServer

from tests.builders import FakeContext, sqs_record
from tests.integration.conftest import fake_aws_environment

REGION = "us-east-1"
TABLE = "pinsync-state"

# -- strategies ---------------------------------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
AUDIENCES = ["spring", "loyal", "Spring Sale", "ünï-çødé", "with,comma", "a" * 80]
NAMESPACES = ["Email", "email", "EMAIL", "GAID", "idfa", "Email_LC_SHA256", "Phone", "ECID", ""]
STATUSES = ["realized", "existing", "exited", "REALIZED", "Exited", "unknown", "queued"]
TIMES = ["2026-11-28T10:00:00Z", "2026-11-28T10:00:00+02:00", "2026-11-28T10:00:00.123456Z"]

identity_ids = st.sampled_from(
    ["Jane@Example.com", " x@y.org ", "not an email", "38400000-8cf0-11bd-b23e-10b96e40000d", "A" * 64, "a" * 64, ""]
) | st.text(max_size=20)


@st.composite
def valid_profiles(draw: st.DrawFn) -> dict[str, Any]:
    """Profiles that follow the contract (identities may still be invalid: that is an exclusion, not a failure)."""
    ups = draw(
        st.dictionaries(
            st.sampled_from(AUDIENCES),
            st.fixed_dictionaries(
                {"status": st.sampled_from(STATUSES)}, optional={"lastQualificationTime": st.sampled_from(TIMES)}
            ),
            max_size=3,
        )
    )
    identity_map = draw(
        st.dictionaries(
            st.sampled_from(NAMESPACES),
            st.lists(st.fixed_dictionaries({"id": identity_ids}, optional={"primary": st.booleans()}), max_size=3),
            max_size=3,
        )
    )
    document: dict[str, Any] = {"segmentMembership": {"ups": ups}, "identityMap": identity_map}
    if draw(st.booleans()):
        document["extra"] = draw(json_values)  # the CDP adds fields over time: allowed
    return document


valid_bodies = st.one_of(
    valid_profiles().map(json.dumps),
    st.lists(valid_profiles(), min_size=1, max_size=3).map(json.dumps),
)


@st.composite
def broken_bodies(draw: st.DrawFn) -> str:
    """Bodies that cannot follow the contract, whatever else they hold."""
    profile = draw(valid_profiles())
    breakage = draw(st.integers(min_value=0, max_value=8))
    if breakage == 0:
        return draw(st.text(max_size=30).filter(lambda text: not _is_json(text)))
    if breakage == 1:
        return json.dumps(draw(json_scalars))  # a scalar is not a profile
    if breakage == 2:
        return "[]"
    if breakage == 3:
        del profile["segmentMembership"]
        return json.dumps(profile)
    if breakage == 4:
        profile["segmentMembership"] = draw(json_scalars | st.lists(json_scalars, max_size=2))
        return json.dumps(profile)
    if breakage == 5:
        profile["segmentMembership"] = {"ups": {"seg": {"status": draw(st.sampled_from(["", 7, None, [], {}]))}}}
        return json.dumps(profile)
    if breakage == 6:
        profile["segmentMembership"] = {
            "ups": {"seg": {"status": "realized", "lastQualificationTime": "2026-11-28T10:00:00"}}
        }
        return json.dumps(profile)  # no timezone
    if breakage == 7:
        profile["identityMap"] = {"Email": draw(st.sampled_from(["x@example.com", [{"no_id": 1}], [{"id": 5}], [7]]))}
        return json.dumps(profile)
    return json.dumps([profile, draw(json_scalars)])  # one good profile does not save a broken array


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


arbitrary_bodies = st.one_of(
    st.text(max_size=60),
    json_values.map(json.dumps),
    st.dictionaries(st.sampled_from(["segmentMembership", "identityMap", "other"]), json_values, max_size=3).map(
        json.dumps
    ),
)


# -- the parser alone ---------------------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.one_of(arbitrary_bodies, valid_bodies, broken_bodies(), st.text(alphabet=st.characters(), max_size=40)))
@example("[" * 100_000)
@example('{"segmentMembership": {"ups": {"\\ud800": {"status": "realized"}}}, "identityMap": {}}')
@example("NaN")
def test_the_parser_returns_profiles_or_a_contract_error_and_nothing_else(body: str) -> None:
    try:
        profiles = parse_body(body)
    except ContractError as error:
        assert error.reason in {"invalid_json", "invalid_contract"}
        assert "\n" not in error.detail and len(error.detail) < 400  # a short, loggable line
    else:
        assert profiles, "a parsed body holds at least one profile"


@settings(max_examples=150, deadline=None)
@given(valid_bodies)
def test_bodies_built_valid_always_parse(body: str) -> None:
    assert parse_body(body)


@settings(max_examples=150, deadline=None)
@given(broken_bodies())
def test_bodies_built_broken_never_parse(body: str) -> None:
    with pytest.raises(ContractError):
        parse_body(body)


# -- through the handler ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def handler() -> Iterator[Any]:
    """The sync handler with moto in-process and the emulator; module-scoped so hypothesis can reuse it."""
    server = EmulatorServer().start()
    with pytest.MonkeyPatch.context() as patch:
        fake_aws_environment(patch)
        with mock_aws():
            create_state_table(boto3.client("dynamodb", region_name=REGION), TABLE)
            arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
                Name="pinsync/pinterest-token", SecretString=seeded_token_secret(server).to_secret_string()
            )["ARN"]
            settings = SyncSettings.of(
                ad_account_id=DEFAULT_AD_ACCOUNT_ID,
                pinterest_api_base_url=server.base_url,
                token_secret_id=arn,
                state_table_name=TABLE,
                destination_name="pinsync property",
                activated_audiences="*",
            )
            runtime = build_runtime(settings, SyncClients.create(), sleep=lambda _seconds: None)
            yield instrumented()(runtime.handle)
    server.stop()


def _invoke(handler: Any, bodies: list[str]) -> set[str]:
    event = {"Records": [sqs_record(body, message_id=f"m{index}") for index, body in enumerate(bodies)]}
    response = handler(event, FakeContext())
    failures = {item["itemIdentifier"] for item in response["batchItemFailures"]}
    assert failures <= {f"m{index}" for index in range(len(bodies))}
    return failures


def _parses(body: str) -> bool:
    try:
        parse_body(body)
    except ContractError:
        return False
    return True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.one_of(
            valid_bodies.map(lambda body: ("valid", body)),
            broken_bodies().map(lambda body: ("broken", body)),
            arbitrary_bodies.map(lambda body: ("arbitrary", body)),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_no_body_raises_out_of_the_handler_or_fails_its_neighbours(handler: Any, batch: list[tuple[str, str]]) -> None:
    failures = _invoke(handler, [body for _, body in batch])
    for index, (kind, body) in enumerate(batch):
        reported = f"m{index}" in failures
        if kind == "valid":
            assert not reported, "a valid message was reported failed"
        elif kind == "broken":
            assert reported, "a broken message was acknowledged (it would be lost instead of dead-lettered)"
        else:
            assert reported == (not _parses(body))


def test_a_batch_of_only_poison_is_reported_whole(handler: Any) -> None:
    bodies = ["{not json", "[]", "null", '{"segmentMembership": 1}']
    assert _invoke(handler, bodies) == {"m0", "m1", "m2", "m3"}


def test_a_lone_surrogate_in_an_identity_fails_only_its_own_message(handler: Any) -> None:
    good = json.dumps(
        {
            "segmentMembership": {"ups": {"spring": {"status": "realized"}}},
            "identityMap": {"Email": [{"id": "ok@example.com"}]},
        }
    )
    bad = '{"segmentMembership": {"ups": {"spring": {"status": "realized"}}}, "identityMap": {"Email": [{"id": "a\\ud800@example.com"}]}}'
    failures = _invoke(handler, [good, bad])
    assert "m0" not in failures

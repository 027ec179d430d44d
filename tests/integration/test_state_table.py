"""The state table adapters on moto: the writer lease and the ledger's item layout."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ParamValidationError
from botocore.stub import Stubber
from local_stack.stack import TABLE, create_state_table
from moto import mock_aws
from pinsync.adapters.dynamo_alerts import DynamoAlertState
from pinsync.adapters.dynamo_ledger import DynamoLedger, ledger_key
from pinsync.adapters.dynamo_mappings import DynamoMappingStore
from pinsync.alerts.model import OpenAlert
from pinsync.sync.identities import sha256_hex
from pinsync.sync.ledger import Entry, LedgerItem
from pinsync.sync.ports import WriterHeld
from pinsync.sync.runtime import SyncClients

from tests.fakes.dynamodb import CountingCalls
from tests.integration.conftest import fake_aws_environment

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    fake_aws_environment(monkeypatch)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_state_table(client)
        yield client


def test_the_writer_lease_admits_one_owner_until_it_ends_and_says_how_the_holder_holds_it(dynamodb):
    store = DynamoMappingStore(dynamodb, TABLE)
    assert store.acquire_writer("seg", "a", NOW, NOW + timedelta(seconds=70)) is None
    assert store.acquire_writer("seg", "a", NOW, NOW + timedelta(seconds=70)) is None  # its own again: fine
    assert store.acquire_writer("seg", "b", NOW, NOW + timedelta(seconds=70)) == WriterHeld(NOW + timedelta(seconds=70))
    store.release_writer("seg", "a", NOW + timedelta(seconds=20), settling=True)
    assert store.acquire_writer("seg", "b", NOW, NOW) == WriterHeld(NOW + timedelta(seconds=20), settling=True)
    store.release_writer("seg", "b", NOW)  # not the holder: nothing happens
    later = NOW + timedelta(seconds=21)
    assert store.acquire_writer("seg", "b", later, later + timedelta(seconds=70)) is None
    assert store.acquire_writer("other", "b", NOW, NOW) is None  # one lease per audience


def test_audiences_with_a_list_are_listed_once_recorded_linked_or_met(dynamodb):
    counting = CountingCalls(dynamodb)
    store = DynamoMappingStore(counting, TABLE)
    assert store.listed_audiences() == frozenset()
    store.claim_creation("made", "a", NOW, timedelta(minutes=5), name="pinsync made")
    store.record_customer_list("made", "77", "a")
    store.link("linked", "78")
    store.note_listed(["met", "made"])
    assert store.listed_audiences() == {"made", "linked", "met"}
    calls = counting.calls["update_item"]
    store.note_listed(["met", "made", "linked"])  # known to this instance: no call
    assert counting.calls["update_item"] == calls
    assert DynamoMappingStore(dynamodb, TABLE).listed_audiences() == {"made", "linked", "met"}  # another container
    assert store.activations() is None  # the index is not an activation


def test_the_creation_claim_records_the_first_name_and_every_later_claim_gets_it(dynamodb):
    store = DynamoMappingStore(dynamodb, TABLE)
    lease = timedelta(minutes=5)
    assert store.claim_creation("seg", "a", NOW, lease, name="pinsync Loyal") == "pinsync Loyal"
    assert store.claim_creation("seg", "b", NOW, lease, name="pinsync seg") is None  # a holds the lease
    later = NOW + 2 * lease
    assert store.claim_creation("seg", "b", later, lease, name="pinsync Renamed") == "pinsync Loyal"
    assert store.get_mappings(["seg"])["seg"].name == "pinsync Loyal"
    store.activate("ops", name="Chosen by ops")  # the operator's name wins over the producer's
    assert store.claim_creation("ops", "a", NOW, lease, name="pinsync ops") == "Chosen by ops"
    store.record_customer_list("seg", "77", "b")
    assert store.claim_creation("seg", "c", later + lease, lease, name="pinsync x") is None  # a list exists


def test_ledger_items_round_trip_and_only_items_with_nobody_in_expire(dynamodb):
    ledger = DynamoLedger(dynamodb, TABLE, clock=lambda: NOW, retention=timedelta(days=90))
    email, gaid, profile = sha256_hex("a@x.co"), sha256_hex("gaid"), sha256_hex("ecid:1")
    at = NOW - timedelta(microseconds=123_456)
    items = [
        LedgerItem(
            profile,
            entries={email: Entry(True, at), gaid: Entry(False, at, uncertain=True)},
            links=frozenset({email, gaid}),
            exited_at=at,
        ),
        LedgerItem(email, owners=frozenset({profile})),
        LedgerItem(gaid, entries={gaid: Entry(False, at)}, shared=True),
    ]
    ledger.write("seg", items)
    assert ledger.read("seg", [profile, email, gaid, sha256_hex("unknown")]) == {item.key: item for item in items}
    stored = {
        key: dynamodb.get_item(TableName=TABLE, Key=ledger_key("seg", key))["Item"] for key in (profile, email, gaid)
    }
    assert "expires_at" not in stored[profile] and "expires_at" not in stored[email]  # someone in; an index
    assert int(stored[gaid]["expires_at"]["N"]) == int((NOW + timedelta(days=90)).timestamp())
    assert ledger.members("seg") == {email}


def test_the_sync_function_skips_botocore_validation_and_its_ledger_requests_still_are_well_formed(dynamodb):
    # Given the sync function's own DynamoDB client (validation off: the adapter builds every request itself)
    clients = SyncClients.create(boto3.Session(region_name="us-east-1"))
    with Stubber(clients.dynamodb) as stub:  # a request botocore's validation would refuse reaches the wire
        stub.add_response("get_item", {})
        clients.dynamodb.get_item(TableName=TABLE, Key={}, ConsistentRead="not a boolean")
    with pytest.raises(ParamValidationError):  # while a default client refuses it
        boto3.client("dynamodb", region_name="us-east-1").get_item(TableName=TABLE, Key={}, ConsistentRead="no")
    ledger = DynamoLedger(clients.dynamodb, TABLE, clock=lambda: NOW, retention=timedelta(days=90))
    # When a batch larger than one BatchWriteItem page goes through it
    items = [LedgerItem(sha256_hex(f"p{n}"), entries={sha256_hex(f"p{n}"): Entry(True, NOW)}) for n in range(60)]
    ledger.write("seg", items)
    # Then moto, which validates the request server side, stored every item as sent
    assert ledger.read("seg", [item.key for item in items]) == {item.key: item for item in items}


def test_ledger_items_of_the_earlier_layout_read_as_the_record_own_entry(dynamodb):
    record = sha256_hex("old@x.co")
    dynamodb.put_item(
        TableName=TABLE,
        Item={
            **ledger_key("seg", record),
            "member": {"BOOL": True},
            "qualified_at": {"S": "2026-11-01T10:00:00+00:00"},
            "profile": {"S": sha256_hex("ecid:9")},
        },
    )
    [item] = DynamoLedger(dynamodb, TABLE).read("seg", [record]).values()
    assert item.entries == {record: Entry(True, datetime(2026, 11, 1, 10, 0, tzinfo=UTC))}


def test_a_restored_alert_reads_back_as_cleared_and_never_overwrites_one_opened_again(dynamodb):
    state = DynamoAlertState(dynamodb, TABLE)
    now = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    first = OpenAlert("alarm:q", "dead_letter_queue", "critical", "first", now, now + timedelta(hours=1))
    assert state.try_open(first, now)

    cleared = state.clear("alarm:q")
    assert cleared == first
    state.restore(first)
    assert state.get("alarm:q") == first  # what clear() returned, put back as it was

    state.clear("alarm:q")
    second = OpenAlert("alarm:q", "dead_letter_queue", "critical", "second", now, now + timedelta(hours=2))
    assert state.try_open(second, now + timedelta(minutes=5))
    state.restore(first)  # opened again meanwhile: the newer alert stands
    assert state.get("alarm:q") == second

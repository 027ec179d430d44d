"""The membership ledger through the real handler: reordering, duplicates, changed identifiers, crashes."""

from __future__ import annotations

import pytest
from pinsync.sync.identities import sha256_hex
from pinterest_emulator import Fault

from tests.builders import body, profile, sqs_event
from tests.integration.conftest import VISIBILITY_TIMEOUT_SECONDS, SyncFunction
from tests.integration.test_audience_sync import failures, members_of, pinterest_calls

LIST = "pinsync test seg"


def person(status: str, at: str, email: str = "jo@example.com", ecid: str = "ECID-1", **extra):
    return body(profile({"seg": status}, email=email, at=at, extra_identities={"ECID": [ecid]}, **extra))


def test_a_retried_add_arriving_after_the_remove_is_stale(sync_env: SyncFunction, emulator, waits):
    # Given an ADD at 10:00 applied, then the REMOVE at 10:05 applied
    sync_env.invoke(sqs_event(person("realized", "2026-11-28T10:00:00Z")))
    sync_env.invoke(sqs_event(person("exited", "2026-11-28T10:05:00Z")))
    assert sha256_hex("jo@example.com") not in members_of(emulator, LIST)
    patches = pinterest_calls(emulator, "PATCH", "/customer_lists/")
    # When SQS redelivers the old ADD
    response = sync_env.invoke(sqs_event(person("realized", "2026-11-28T10:00:00Z")))
    # Then it is excluded as stale, acknowledged, and costs no call
    assert failures(response) == []
    assert sha256_hex("jo@example.com") not in members_of(emulator, LIST)
    assert pinterest_calls(emulator, "PATCH", "/customer_lists/") == patches
    # (ECID is the profile key, not a Pinterest identity: it is counted as unmapped, outside the skip rate)
    run = sync_env.dataflow_runs()[-1]
    assert run["identities"]["excluded_by_reason"] == {"stale": 1, "unmapped_namespace": 1}
    assert run["excluded_share"] == 1.0


def test_duplicate_adds_make_no_second_call(sync_env: SyncFunction, emulator, waits):
    sync_env.invoke(sqs_event(person("realized", "2026-11-28T10:00:00Z", email="a@example.com")))
    sync_env.invoke(sqs_event(person("realized", "2026-11-28T10:00:00Z", email="b@example.com")))
    calls = len(emulator.state.requests_log)
    response = sync_env.invoke(sqs_event(person("realized", "2026-11-28T10:00:00Z", email="b@example.com")))
    assert failures(response) == []
    assert len(emulator.state.requests_log) == calls
    assert sync_env.dataflow_runs()[-1]["identities"]["skipped_by_reason"] == {"unchanged": 1}


def test_exit_after_an_email_change_removes_the_old_email_too(sync_env: SyncFunction, emulator, waits):
    # Given a profile (stable ECID) added with its old email, then with its new email
    sync_env.invoke(
        sqs_event(
            person(
                "realized", "2026-11-28T09:00:00Z", email="old@example.com", gaid="38400000-8cf0-11bd-b23e-10b96e40000d"
            )
        )
    )
    sync_env.invoke(sqs_event(person("realized", "2026-11-28T10:00:00Z", email="new@example.com")))
    assert {sha256_hex("old@example.com"), sha256_hex("new@example.com")} <= members_of(emulator, LIST)
    # When the profile exits, carrying only its new email
    assert failures(sync_env.invoke(sqs_event(person("exited", "2026-11-28T11:00:00Z", email="new@example.com")))) == []
    # Then every identifier it ever had leaves the audience
    assert members_of(emulator, LIST) == set()
    assert sync_env.dataflow_runs()[-1]["identities"]["removed"] == 3


class Killed(BaseException):
    """Lambda ending the invocation (timeout, out of memory): nothing after it runs, ``finally`` included."""


@pytest.mark.parametrize("death", ["ledger_write_fails", "invocation_killed"])
def test_a_crash_between_pinterest_and_the_ledger_write_ends_correct_after_redelivery(
    sync_env: SyncFunction, emulator, waits, monkeypatch, death
):
    sync_env.invoke(sqs_event(person("realized", "2026-11-28T10:00:00Z", email="seed@example.com", ecid="ECID-0")))
    event = sqs_event(person("realized", "2026-11-28T10:00:00Z", email="crash@example.com", ecid="ECID-2"))

    # Given an invocation that fails after Pinterest accepted the change but before the ledger write: DynamoDB
    # failing (the audience's messages come back), or Lambda killing it (the writer lease is never released)
    ledger = sync_env.runtime.ledger
    if death == "ledger_write_fails":
        monkeypatch.setattr(
            ledger, "write", _failing_after_the_send(ledger, ConnectionError("DynamoDB is unreachable"))
        )
        assert failures(sync_env.invoke(event)) == ["m1"]
        assert sync_env.dataflow_runs()[-1]["identities"]["failed_by_reason"] == {"internal_error": 1}
    else:
        monkeypatch.setattr(ledger, "write", _failing_after_the_send(ledger, Killed()))
        monkeypatch.setattr(sync_env.runtime.mappings, "release_writer", lambda *args, **kwargs: None)
        with pytest.raises(Killed):
            sync_env.invoke(event)
    assert sha256_hex("crash@example.com") in members_of(emulator, LIST)
    monkeypatch.undo()
    # When SQS redelivers the message after the visibility timeout
    sync_env.elapse(VISIBILITY_TIMEOUT_SECONDS)
    assert failures(sync_env.invoke(event)) == []
    # Then the re-send was harmless and the ledger now knows, so an exit removes it
    assert sha256_hex("crash@example.com") in members_of(emulator, LIST)
    exit_ = sqs_event(person("exited", "2026-11-28T12:00:00Z", email="other@example.com", ecid="ECID-2"))
    assert failures(sync_env.invoke(exit_)) == []
    assert sha256_hex("crash@example.com") not in members_of(emulator, LIST)


def _failing_after_the_send(ledger, error: BaseException):
    """The ledger's write, failing once it records an accepted change (the owners written before a send go through)."""
    write = ledger.write

    def fail(audience_id, items):
        if any(item.entries for item in items):
            raise error
        write(audience_id, items)

    return fail


def test_an_exit_processed_before_a_retried_older_add_wins(sync_env: SyncFunction, emulator, waits):
    # Given the list exists, and an ADD at 10:00 that Pinterest refuses with 503 (so SQS will redeliver it)
    sync_env.invoke(sqs_event(person("realized", "2026-11-28T09:00:00Z", email="seed@example.com", ecid="ECID-0")))
    add = sqs_event(person("realized", "2026-11-28T10:00:00Z", email="late@example.com", ecid="ECID-3"))
    emulator.state.inject_fault(Fault(kind="error", status=503, count=20, method="PATCH"))
    assert failures(sync_env.invoke(add)) != []
    emulator.state.clear_faults()
    sync_env.elapse(VISIBILITY_TIMEOUT_SECONDS)
    # When the exit at 11:00 is processed first (the ledger has never seen the identifier: it is sent anyway)
    assert failures(sync_env.invoke(sqs_event(person("exited", "2026-11-28T11:00:00Z", email="late@example.com",
                                                 ecid="ECID-3")))) == []  # fmt: skip
    # and then SQS redelivers the ADD from 10:00
    assert failures(sync_env.invoke(add)) == []
    # Then the ADD is stale: the person stays out
    assert sha256_hex("late@example.com") not in members_of(emulator, LIST)
    assert sync_env.dataflow_runs()[-1]["identities"]["excluded_by_reason"]["stale"] == 1


def test_a_late_snapshot_in_the_same_batch_as_the_exit_does_not_keep_an_old_email(
    sync_env: SyncFunction, emulator, waits
):
    # Given a profile added with its old email at 09:00
    sync_env.invoke(sqs_event(person("realized", "2026-11-28T09:00:00Z", email="old@example.com", ecid="ECID-4")))
    # When one batch holds a late snapshot (10:00, still the old email) and the exit (11:00, only the new email)
    event = sqs_event(
        person("realized", "2026-11-28T10:00:00Z", email="old@example.com", ecid="ECID-4"),
        person("exited", "2026-11-28T11:00:00Z", email="new@example.com", ecid="ECID-4"),
    )
    assert failures(sync_env.invoke(event)) == []
    # Then the old email leaves the audience with the exit
    assert sha256_hex("old@example.com") not in members_of(emulator, LIST)

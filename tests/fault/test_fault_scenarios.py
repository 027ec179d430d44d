"""Fault and load scenarios through the local stack (queue → poller → real handler → Pinterest emulator).

Each scenario drives a generated workload (``bench.workload``) through a fresh local stack, injects one kind of
trouble, and ends with the invariant checker (``tests.fault.harness``): every message applied, excluded with a
reason or dead-lettered, and Pinterest's final membership equal to the expected one. Bounded: small workloads,
``run_until_drained`` timeouts, faults limited in count, retry waits recorded in full but slept at most 50 ms.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
import requests
from local_stack.stack import LocalSettings
from pinsync.sync.service import WAIT_FIRST_SECONDS
from pinsync.tokens import TokenSecret
from pinterest_emulator import Fault

from bench.workload import POISON_BODIES, GeneratedMessage, Workload, generate
from tests.builders import FakeContext
from tests.fault.harness import Scenario, run_in_threads, scenario

pytestmark = pytest.mark.slow

AUDIENCES = ("spring", "loyal", "vip")


def small_workload(seed: int, *, poison: int = 0, people: int = 36) -> Workload:
    return generate(seed=seed, people=people, audiences=AUDIENCES, profiles_per_message=2, poison=poison)


def poll_until(test_scenario: Scenario, condition: Any, *, max_polls: int = 12) -> None:
    poller = test_scenario.pollers[0] if test_scenario.pollers else test_scenario.poller()
    for _ in range(max_polls):
        poller.poll_once(wait_seconds=1)
        if condition():
            return
    raise AssertionError("condition not reached within the poll budget")


def pinterest_writes(test_scenario: Scenario) -> int:
    return sum(
        1
        for entry in test_scenario.stack.emulator.state.requests_log
        if entry["method"] in ("POST", "PATCH") and "customer_lists" in entry["path"] and entry["status"] == 200
    )


def test_baseline_without_faults_every_message_is_applied():
    workload = small_workload(1)
    with scenario() as run:
        run.send(workload.waves[0])
        run.drain()
        run.send(workload.waves[1])
        run.drain()
        verdicts = run.check(workload)
        assert len(verdicts.applied) == len(workload.messages())
        assert verdicts.dead == []
        assert run.pollers[0].stats.failed_messages == 0


def test_pinterest_down_for_a_while_then_back():
    workload = small_workload(2)
    with scenario(LocalSettings(max_receive_count=10)) as run:
        state = run.stack.emulator.state
        run.send(workload.waves[0])
        run.drain()
        # Pinterest goes down: every call answers 503 (or the connection drops) until it is back
        state.inject_fault(Fault(kind="error", count=10_000, status=503))
        state.inject_fault(Fault(kind="drop", count=3))
        state.clear_requests_log()
        run.send(workload.waves[1])
        poller = run.pollers[0]
        poll_until(run, lambda: poller.stats.failed_messages >= len(workload.waves[1]))
        calls_while_down = len(state.requests_log)
        invocations_while_down = poller.stats.invocations
        # It comes back
        state.clear_faults()
        run.drain()
        verdicts = run.check(workload)
        assert verdicts.dead == []
        failed = run.failed_reasons()
        assert failed["pinterest_unavailable"] > 0
        # An outage is detected after two exhausted calls: no invocation hammers a dead API
        assert calls_while_down <= invocations_while_down * 2 * 4
        assert run.sleep.requested, "5xx must be retried with backoff"


def test_a_429_storm_is_waited_out_and_nothing_is_lost():
    workload = small_workload(3)
    with scenario(LocalSettings(max_receive_count=10)) as run:
        state = run.stack.emulator.state
        state.configure(rate_limit_per_second=20, rate_limit_burst=5)
        state.inject_fault(Fault(kind="rate_limit", count=40, reset_seconds=3))
        run.send(workload.waves[0])
        run.drain()
        run.send(workload.waves[1])
        run.drain()
        verdicts = run.check(workload)
        assert verdicts.dead == []
        throttled = [entry for entry in state.requests_log if entry["status"] == 429]
        assert len(throttled) >= 40
        # X-RateLimit-Reset was honoured (the wait asked for is at least the 3 s Pinterest said)
        assert any(wait >= 3 for wait in run.sleep.requested)
        assert max(run.sleep.requested) <= 30 * 1.1  # capped, jittered


def test_latency_spikes_past_the_client_timeout():
    workload = small_workload(4)
    with scenario(LocalSettings(max_receive_count=10), pinterest_timeout_seconds=1) as run:
        state = run.stack.emulator.state
        run.send(workload.waves[0])
        run.drain()
        # Slow PATCHes: the client gives up after 1 s although Pinterest applies them later (ambiguous outcome)
        state.inject_fault(Fault(kind="latency", seconds=1.6, count=4, method="PATCH"))
        state.clear_requests_log()
        run.send(workload.waves[1])
        run.drain(timeout=60)
        verdicts = run.check(workload)
        assert verdicts.dead == []
        assert run.runtime.settings.pinterest_timeout_seconds == 1.0
        slow = [entry for entry in state.requests_log if entry.get("faults")]
        assert len(slow) == 4


def test_a_create_call_that_times_out_but_lands_later_never_makes_two_lists():
    # Given the first list creation takes longer than the client waits (Pinterest still applies it, late)
    workload = generate(seed=5, people=40, audiences=("solo",), profiles_per_message=1)
    with scenario(LocalSettings(max_receive_count=20), pinterest_timeout_seconds=1, creation_lease_seconds=10) as run:
        run.stack.emulator.state.inject_fault(
            Fault(kind="latency", seconds=2.5, count=1, method="POST", path_contains="customer_lists")
        )
        # When the messages are processed (the next batch starts right after the timed-out one)
        run.send(workload.waves[0])
        run.drain(timeout=60)
        run.send(workload.waves[1])
        run.drain()
        # Then one list holds everyone
        run.check(workload)  # includes: at most one customer list per audience
        assert len(run.stack.emulator.state.customer_lists()) == 1


def _moto_rotation_function(run: Scenario) -> str:
    """Secrets Manager needs a rotation Lambda to start a rotation; moto gets a stub (the test runs the steps)."""
    import io
    import zipfile

    requests.post(f"{run.stack.endpoint_url}/moto-api/config", json={"lambda": {"use_docker": False}}, timeout=10)
    role = run.stack.client("iam").create_role(RoleName="rotator", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("app.py", "def handler(event, context):\n    return None\n")
    function = run.stack.client("lambda").create_function(
        FunctionName="rotator",
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": archive.getvalue()},
    )
    return str(function["FunctionArn"])


def test_the_token_expires_mid_run_and_a_rotation_brings_it_back():
    workload = small_workload(6)
    with scenario(LocalSettings(max_receive_count=10)) as run:
        secrets = run.stack.client("secretsmanager")
        rotator_arn = _moto_rotation_function(run)
        run.send(workload.waves[0])
        run.drain()
        before = secrets.get_secret_value(SecretId=run.stack.secret_arn, VersionStage="AWSCURRENT")
        # The access token expires mid-run: every call answers 401, re-reading the secret does not help
        assert run.stack.emulator.state.expire_access_tokens() >= 1
        run.send(workload.waves[1])
        poll_until(run, lambda: run.failed_reasons()["unauthorized"] > 0)
        # The rotation function runs, step by step as Secrets Manager calls it
        version = secrets.rotate_secret(
            SecretId=run.stack.secret_arn, RotationLambdaARN=rotator_arn, RotationRules={"AutomaticallyAfterDays": 7}
        )["VersionId"]
        rotate = run.stack.rotation_handler()
        for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
            rotate({"Step": step, "SecretId": run.stack.secret_arn, "ClientRequestToken": version}, FakeContext())
        after = secrets.get_secret_value(SecretId=run.stack.secret_arn, VersionStage="AWSCURRENT")
        assert after["VersionId"] == version != before["VersionId"]
        old = TokenSecret.model_validate_json(before["SecretString"]).access_token.get_secret_value()
        new = TokenSecret.model_validate_json(after["SecretString"]).access_token.get_secret_value()
        assert old != new
        # The sync function picks the new token up by itself (401 → re-read the secret) and catches up
        run.drain()
        verdicts = run.check(workload)
        assert verdicts.dead == []


def test_two_pollers_racing_to_create_lists_make_one_list_per_audience():
    workload = small_workload(7, people=48)
    with scenario(LocalSettings(max_receive_count=10), atomic_dynamodb=True) as run:
        # Both pollers' first invocations start together; the list creation is slow, so they overlap
        run.stack.emulator.state.inject_fault(
            Fault(kind="latency", seconds=0.5, count=len(AUDIENCES), method="POST", path_contains="customer_lists")
        )
        barrier = threading.Barrier(2, timeout=20)
        started = iter(range(1_000_000))
        lock = threading.Lock()

        def racing_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            with lock:
                invocation = next(started)
            if invocation < 2:  # the first invocation of each poller starts at the same moment
                barrier.wait()
            return run.handler(event, context)

        left = run.poller(batch_size=10, handler=racing_handler)
        right = run.poller(batch_size=10, handler=racing_handler)
        run.send(workload.waves[0])
        errors = run_in_threads(lambda: left.run_until_drained(timeout=60), lambda: right.run_until_drained(timeout=60))
        assert errors == []
        run.send(workload.waves[1])
        errors = run_in_threads(lambda: left.run_until_drained(timeout=60), lambda: right.run_until_drained(timeout=60))
        assert errors == []
        assert left.stats.invocations > 0 and right.stats.invocations > 0
        verdicts = run.check(workload)  # includes: exactly one customer list per audience
        assert verdicts.dead == []
        assert len(run.stack.emulator.state.customer_lists()) == len(AUDIENCES)
        # the race did happen: one invocation found the creation lease taken, or waited for the audience's writer
        assert run.failed_reasons()["creation_in_progress"] > 0 or WAIT_FIRST_SECONDS in run.sleep.requested


def test_duplicate_deliveries_cost_nothing_and_a_late_duplicate_is_stale():
    workload = small_workload(8)
    first_wave = workload.waves[0]
    with scenario() as run:
        # Every message of the first wave arrives twice
        run.send(
            first_wave + [GeneratedMessage(m.body, False, list(m.changes), dict(m.exclusions)) for m in first_wave]
        )
        run.drain()
        writes_after_first_wave = pinterest_writes(run)
        run.send(workload.waves[1])
        run.drain()
        # A first-wave message whose person changed in the second wave is delivered once more, late
        changed = {(c.audience, c.record) for m in workload.waves[1] for c in m.changes}
        late = next(m for m in first_wave if any((c.audience, c.record) in changed for c in m.changes))
        run.send([GeneratedMessage(late.body, False, list(late.changes), dict(late.exclusions))])
        run.drain()
        verdicts = run.check(workload)
        assert verdicts.dead == []
        runs = run.collect_runs()
        skipped = sum(r["identities"]["skipped_by_reason"].get("coalesced", 0) for r in runs)
        skipped += sum(r["identities"]["skipped_by_reason"].get("unchanged", 0) for r in runs)
        assert skipped >= sum(len(m.changes) for m in first_wave)  # every duplicate change was skipped
        assert runs[-1]["identities"]["excluded_by_reason"].get("stale", 0) >= 1
        assert runs[-1]["identities"]["activated"] == 0
        # Duplicates add no request beyond what one (list, operation) chunk per batch needs
        assert writes_after_first_wave <= run.pollers[0].stats.invocations * 2 * len(AUDIENCES)


def test_poison_messages_mixed_in_end_in_the_dead_letter_queue_alone():
    workload = small_workload(9, poison=len(POISON_BODIES))
    with scenario(LocalSettings(max_receive_count=2)) as run:
        run.send(workload.waves[0])
        run.drain(timeout=60)
        run.send(workload.waves[1])
        run.drain()
        verdicts = run.check(workload)
        assert len(verdicts.dead) == len(POISON_BODIES)
        assert all(sent.message.poison for sent in verdicts.dead)
        rejected: dict[str, int] = {}
        for detail in run.collect_runs():
            for reason, count in detail["messages"]["rejected_by_reason"].items():
                rejected[reason] = rejected.get(reason, 0) + count
        assert set(rejected) == {"invalid_json", "invalid_contract"}
        assert sum(rejected.values()) == 2 * len(POISON_BODIES)  # each delivered twice, then dead-lettered

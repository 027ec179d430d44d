"""Rate limiting and injected faults: 429, 5xx, dropped connections, latency."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from pinterest_emulator import EmulatorServer, ManualClock

from tests.emulator.helpers import AD_ACCOUNT, Api

LISTS = f"/ad_accounts/{AD_ACCOUNT}/customer_lists"
RATE_LIMIT_MESSAGE = (
    "This request exceeded a rate limit. This can happen if the client exceeds one of the published rate limits "
    "within a short time window."
)


def test_token_bucket_rate_limit(api: Api, server: EmulatorServer, clock: ManualClock) -> None:
    server.state.configure(rate_limit_per_second=2, rate_limit_burst=2)
    assert [api.get(LISTS).status_code for _ in range(2)] == [200, 200]
    limited = api.get(LISTS)
    assert limited.status_code == 429
    assert limited.json() == {"code": 8, "message": RATE_LIMIT_MESSAGE}
    reset = limited.headers["X-RateLimit-Reset"]
    assert reset.isdigit() and int(reset) >= 1
    assert "Retry-After" not in limited.headers
    clock.advance(0.5)  # one token back at 2/s
    assert api.get(LISTS).status_code == 200
    assert api.get(LISTS).status_code == 429


def test_rate_limit_reset_counts_whole_seconds(api: Api, server: EmulatorServer) -> None:
    server.state.configure(rate_limit_per_second=0.1, rate_limit_burst=1)
    assert api.get(LISTS).status_code == 200
    assert api.get(LISTS).headers["X-RateLimit-Reset"] == "10"


def test_retry_after_is_optional(api: Api, server: EmulatorServer) -> None:
    server.state.configure(rate_limit_per_second=1, send_retry_after=True)
    api.get(LISTS)
    limited = api.get(LISTS)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == limited.headers["X-RateLimit-Reset"]


def test_forced_429(api: Api, server: EmulatorServer) -> None:
    server.state.inject("rate_limit", count=2, reset_seconds=7)
    first, second, third = (api.get(LISTS) for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (429, 429, 200)
    assert first.json()["code"] == 8
    assert first.headers["X-RateLimit-Reset"] == "7"


def test_5xx_fault_filtered_by_method(api: Api, server: EmulatorServer) -> None:
    list_id = api.create_list("a@example.com").json()["id"]
    server.state.inject("error", count=2, status=503, method="PATCH", message="try later")
    assert api.get(LISTS).status_code == 200  # not a PATCH: untouched, fault not consumed
    for _ in range(2):
        failed = api.update_list(list_id, "ADD", "b@example.com")
        assert failed.status_code == 503
        assert failed.json() == {"code": 503, "message": "try later"}
    assert server.state.members(list_id) == {"a@example.com"}  # a failed request changes nothing
    assert api.update_list(list_id, "ADD", "b@example.com").status_code == 200


def test_5xx_fault_filtered_by_path(api: Api, server: EmulatorServer) -> None:
    server.state.inject("error", status=500, code=42, path_contains="/audiences")
    assert api.get(LISTS).status_code == 200
    failed = api.get(f"/ad_accounts/{AD_ACCOUNT}/audiences")
    assert (failed.status_code, failed.json()["code"]) == (500, 42)
    assert api.get(f"/ad_accounts/{AD_ACCOUNT}/audiences").status_code == 200


def test_a_lost_answer_is_applied_then_answered_as_a_failure(api: Api, server: EmulatorServer) -> None:
    list_id = api.create_list("a@example.com").json()["id"]
    server.state.inject("lost_answer", count=1, status=502, method="PATCH")
    lost = api.update_list(list_id, "ADD", "b@example.com")
    assert (lost.status_code, lost.json()["code"]) == (502, 502)
    assert server.state.members(list_id) == {"a@example.com", "b@example.com"}  # applied all the same
    [entry] = [entry for entry in server.state.requests_log if entry.get("faults") == ["lost_answer"]]
    assert entry["status"] == 502


def test_dropped_connection(api: Api, server: EmulatorServer) -> None:
    server.state.inject("drop", count=1, method="POST")
    with pytest.raises(requests.ConnectionError):
        api.create_list("a@example.com")
    assert server.state.customer_lists() == []  # the request was not processed
    assert api.create_list("a@example.com").status_code == 200
    dropped = [entry for entry in server.state.requests_log if entry.get("faults") == ["drop"]]
    assert len(dropped) == 1 and dropped[0]["status"] is None


def test_latency_uses_the_injected_sleep(api: Api, server: EmulatorServer, clock: ManualClock) -> None:
    server.state.inject("latency", count=1, seconds=12.5)
    start = clock()
    assert api.get(LISTS).status_code == 200
    assert clock() - start == 12.5
    api.get(LISTS)
    assert clock() - start == 12.5  # only the next request was delayed


@pytest.fixture
def real_time_server() -> Iterator[EmulatorServer]:
    emulator = EmulatorServer().start()  # real clock and real sleep
    try:
        yield emulator
    finally:
        emulator.stop()


def test_latency_makes_a_client_time_out(real_time_server: EmulatorServer) -> None:
    token = real_time_server.state.mint_tokens()["access_token"]
    real_time_server.state.inject("latency", seconds=1.0)
    with pytest.raises(requests.ReadTimeout):
        requests.get(f"{real_time_server.base_url}{LISTS}", headers={"Authorization": f"Bearer {token}"}, timeout=0.2)


def test_faults_over_http(server: EmulatorServer, api: Api) -> None:
    root = server.root_url
    added = requests.post(
        f"{root}/_emulator/faults",
        json={"faults": [{"kind": "error", "status": 502, "count": 3}], "poison_records": ["bad@example.com"]},
        timeout=10,
    )
    assert added.status_code == 200
    assert added.json()["added"][0]["count"] == 3
    assert api.get(LISTS).status_code == 502
    listed = requests.get(f"{root}/_emulator/faults", timeout=10).json()
    assert listed["faults"][0]["count"] == 2
    assert listed["poison_records_count"] == 1
    assert requests.delete(f"{root}/_emulator/faults", timeout=10).json() == {"faults": [], "poison_records_count": 0}
    assert api.get(LISTS).status_code == 200
    assert api.create_list("bad@example.com").status_code == 200


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "explode"},
        {"kind": "error", "status": 404},
        {"kind": "latency", "seconds": -1},
        {"kind": "drop", "x": 1},
    ],
)
def test_invalid_fault_is_rejected(server: EmulatorServer, fault: dict[str, object]) -> None:
    response = requests.post(f"{server.root_url}/_emulator/faults", json=fault, timeout=10)
    assert response.status_code == 400
    assert server.state.faults()["faults"] == []

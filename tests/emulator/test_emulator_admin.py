"""The admin HTTP API under /_emulator/ and the request log."""

from __future__ import annotations

import json
from typing import Any

import requests
from pinterest_emulator import EmulatorServer

from tests.emulator.helpers import AD_ACCOUNT, Api

LISTS = f"/ad_accounts/{AD_ACCOUNT}/customer_lists"


def admin(server: EmulatorServer, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(method, f"{server.root_url}/_emulator{path}", json=body, timeout=10)


def test_state_shows_lists_members_and_audiences(server: EmulatorServer, api: Api) -> None:
    list_id = api.create_list("c@example.com,a@example.com,b@example.com").json()["id"]
    api.update_list(list_id, "REMOVE", "b@example.com,x@example.com")
    api.create_audience(list_id)
    state = admin(server, "GET", "/state").json()
    (entry,) = state["customer_lists"]
    assert entry["id"] == list_id
    assert entry["members"] == ["a@example.com", "c@example.com"]
    assert entry["member_count"] == 2
    assert (entry["num_uploaded_user_records"], entry["num_removed_user_records"], entry["num_batches"]) == (3, 2, 2)
    assert entry["status"] == "TOO_SMALL"
    assert state["audiences"][0]["rule"]["customer_list_id"] == list_id
    assert state["ad_accounts"][0]["id"] == AD_ACCOUNT
    assert state["tokens"]["access_tokens_active"] == 1


def test_reset(server: EmulatorServer, api: Api) -> None:
    api.create_list("a@example.com")
    server.state.inject("error", count=5)
    assert admin(server, "POST", "/reset").status_code == 200
    state = admin(server, "GET", "/state").json()
    assert state["customer_lists"] == [] and state["faults"] == []
    assert api.get(LISTS).status_code == 401  # tokens are gone too


def test_register_app_and_mint_tokens_over_http(server: EmulatorServer, api: Api) -> None:
    assert admin(server, "POST", "/apps", {"client_id": "app2", "client_secret": "s2"}).status_code == 200
    minted = admin(server, "POST", "/tokens", {"client_id": "app2", "scope": "ads:read"}).json()
    assert minted["access_token"].startswith("pina_") and minted["scope"] == "ads:read"
    assert api.get(LISTS, token=minted["access_token"]).status_code == 200
    refreshed = api.token_request(
        {"grant_type": "refresh_token", "refresh_token": minted["refresh_token"], "continuous_refresh": "true"},
        auth=("app2", "s2"),
    )
    assert refreshed.status_code == 200
    assert admin(server, "POST", "/tokens", {"client_id": "nope"}).status_code == 400


def test_expire_and_revoke_over_http(server: EmulatorServer, api: Api, tokens: dict[str, Any]) -> None:
    assert admin(server, "POST", "/tokens/expire").json() == {"expired": 1}
    assert api.get(LISTS).status_code == 401
    assert admin(server, "POST", "/tokens/revoke", {"refresh_token": tokens["refresh_token"]}).json() == {
        "revoked": True
    }
    refresh = api.token_request({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refresh.json()["code"] == 283


def test_clock_advance_over_http(server: EmulatorServer, api: Api) -> None:
    assert api.get(LISTS).status_code == 200
    assert admin(server, "POST", "/clock", {"advance_seconds": 30 * 86_400}).status_code == 200
    assert api.get(LISTS).status_code == 401


def test_config_over_http(server: EmulatorServer, api: Api) -> None:
    changed = admin(server, "POST", "/config", {"max_records_per_request": 1, "min_matched": 1}).json()
    assert changed["max_records_per_request"] == 1
    assert api.create_list("a@example.com,b@example.com").status_code == 400
    assert api.create_list("a@example.com").json()["status"] == "READY"
    assert admin(server, "POST", "/config", {"ad_accounts": {}}).status_code == 400
    assert admin(server, "POST", "/config", {"min_matched": -1}).status_code == 400
    assert admin(server, "GET", "/config").json()["min_matched"] == 1


def test_request_log_has_counts_but_no_secrets(server: EmulatorServer, api: Api, tokens: dict[str, Any]) -> None:
    list_id = api.create_list("a@example.com,b@example.com,").json()["id"]
    api.update_list(list_id, "REMOVE", "a@example.com")
    api.token_request({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    log = admin(server, "GET", "/requests").json()["requests"]
    create, update, token = log[-3:]
    assert (create["operation_id"], create["status"], create["records"]) == ("customer_lists/create", 200, 2)
    assert create["template"] == "/v5/ad_accounts/{ad_account_id}/customer_lists"
    assert (update["operation_type"], update["records"]) == ("REMOVE", 1)
    assert token["operation_id"] == "oauth/token"
    dumped = json.dumps(log)
    for secret in (tokens["access_token"], tokens["refresh_token"], "a@example.com", "pinsync-local-secret"):
        assert secret not in dumped
    assert admin(server, "DELETE", "/requests").json() == {"requests": []}
    assert server.state.requests_log == []


def test_unknown_admin_endpoint_and_bad_json(server: EmulatorServer) -> None:
    assert admin(server, "GET", "/nope").status_code == 404
    bad = requests.post(f"{server.root_url}/_emulator/config", data=b"{not json", timeout=10)
    assert bad.status_code == 400
    assert bad.json()["code"] == 1

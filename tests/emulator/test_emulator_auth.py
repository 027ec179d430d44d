"""Bearer auth, scopes, the OAuth code flow at /oauth/, and the token endpoint with continuous refresh."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from pinterest_emulator import EmulatorServer, ManualClock

from tests.emulator.helpers import AD_ACCOUNT, Api

LISTS = f"/ad_accounts/{AD_ACCOUNT}/customer_lists"
DAY = 86_400
AUTH_FAILED = {"code": 2, "message": "Authentication failed."}
INVALID_GRANT = {"code": 283, "message": "The authorization grant is invalid"}


def authorize(server: EmulatorServer, redirect_uri: str = "http://localhost:9/cb", **params: str) -> requests.Response:
    query = {"client_id": "pinsync-local-app", "redirect_uri": redirect_uri, "response_type": "code", **params}
    return requests.get(f"{server.root_url}/oauth/", params=query, allow_redirects=False, timeout=10)


def code_from(response: requests.Response) -> str:
    return parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]


@pytest.mark.parametrize("token", [None, "pina_unknown", "not-even-a-token"])
def test_missing_or_unknown_token_is_401_code_2(api: Api, token: str | None) -> None:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    api.token = None
    response = api.get(LISTS, headers=headers)
    assert response.status_code == 401
    assert response.json() == AUTH_FAILED


def test_access_token_expires_after_expires_in(api: Api, clock: ManualClock, tokens: dict[str, Any]) -> None:
    assert tokens["expires_in"] == 30 * DAY
    clock.advance(tokens["expires_in"] - 1)
    assert api.get(LISTS).status_code == 200
    clock.advance(1)
    response = api.get(LISTS)
    assert response.status_code == 401
    assert response.json() == AUTH_FAILED


def test_expire_all_access_tokens(api: Api, server: EmulatorServer) -> None:
    assert api.get(LISTS).status_code == 200
    assert server.state.expire_access_tokens() == 1
    assert api.get(LISTS).status_code == 401


def test_read_only_token_cannot_write(api: Api, server: EmulatorServer) -> None:
    api.token = server.state.mint_tokens(scope="ads:read")["access_token"]
    assert api.get(LISTS).status_code == 200
    response = api.create_list("a@example.com")
    assert response.status_code == 401
    assert response.json()["code"] == 3
    assert response.json()["message"] == ("Your token does not have sufficient permissions to perform this operation.")


def test_a_user_without_an_audience_role_reads_but_cannot_write(api: Api, server: EmulatorServer) -> None:
    assert api.get(f"/ad_accounts/{AD_ACCOUNT}").json()["permissions"] == ["OWNER"]
    server.state.configure(ad_account_permissions=["ANALYST"])
    assert api.get(f"/ad_accounts/{AD_ACCOUNT}").json()["permissions"] == ["ANALYST"]
    assert api.get(LISTS).status_code == 200
    response = api.create_list("a@example.com")
    assert response.status_code == 403
    assert response.json() == {"code": 29, "message": "You are not permitted to access that resource."}
    server.state.configure(ad_account_permissions=["ANALYST", "AUDIENCE_MANAGER"])
    assert api.create_list("a@example.com").status_code == 200


def test_write_only_token_cannot_read(api: Api, server: EmulatorServer) -> None:
    api.token = server.state.mint_tokens(scope="ads:write")["access_token"]
    assert api.create_list("a@example.com").status_code == 200
    assert api.get(LISTS).json()["code"] == 3


def test_token_pair_fields(tokens: dict[str, Any], clock: ManualClock) -> None:
    assert tokens["access_token"].startswith("pina_")
    assert tokens["refresh_token"].startswith("pinr_")
    assert tokens["token_type"] == "bearer"
    assert tokens["scope"] == "ads:read,ads:write"
    assert tokens["refresh_token_expires_in"] == 60 * DAY
    assert tokens["refresh_token_expires_at"] == int(clock()) + 60 * DAY


def test_authorization_code_flow(server: EmulatorServer, api: Api) -> None:
    redirect = authorize(server, "http://localhost:9/cb?keep=1", scope="ads:read,ads:write", state="xyz")
    assert redirect.status_code == 302
    query = parse_qs(urlsplit(redirect.headers["Location"]).query)
    assert query["state"] == ["xyz"] and query["keep"] == ["1"]
    grant = {
        "grant_type": "authorization_code",
        "code": query["code"][0],
        "redirect_uri": "http://localhost:9/cb?keep=1",
    }
    response = api.token_request(grant)
    assert response.status_code == 200
    body = response.json()
    assert body["response_type"] == "authorization_code"
    assert body["refresh_token"].startswith("pinr_")
    assert api.get(LISTS, token=body["access_token"]).status_code == 200
    # a code is single-use
    again = api.token_request(grant)
    assert again.status_code == 401  # invalid grant: 401 code 283, as Pinterest is reported to answer
    assert again.json() == INVALID_GRANT


def test_code_with_other_redirect_uri_is_invalid_grant(server: EmulatorServer, api: Api) -> None:
    code = code_from(authorize(server, "http://localhost:9/cb"))
    response = api.token_request({"grant_type": "authorization_code", "code": code, "redirect_uri": "http://evil/cb"})
    assert response.status_code == 401  # invalid grant: 401 code 283, as Pinterest is reported to answer
    assert response.json() == INVALID_GRANT


def test_code_of_another_app_is_invalid_grant(server: EmulatorServer, api: Api) -> None:
    server.state.register_app("other-app", "other-secret")
    code = code_from(authorize(server, "http://cb"))
    grant = {"grant_type": "authorization_code", "code": code, "redirect_uri": "http://cb"}
    assert api.token_request(grant, auth=("other-app", "other-secret")).json() == INVALID_GRANT


def test_authorize_with_unknown_client_is_400(server: EmulatorServer) -> None:
    response = requests.get(
        f"{server.root_url}/oauth/",
        params={"client_id": "nope", "redirect_uri": "http://cb", "response_type": "code"},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 400
    assert "Location" not in response.headers


@pytest.mark.parametrize("auth", [None, ("pinsync-local-app", "wrong"), ("unknown-app", "pinsync-local-secret")])
def test_token_endpoint_rejects_bad_client_credentials(api: Api, tokens: dict[str, Any], auth: Any) -> None:
    response = api.token_request({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}, auth=auth)
    assert response.status_code == 401
    assert response.json() == AUTH_FAILED


def test_continuous_refresh_rotates_and_revokes_the_old_refresh_token(api: Api, tokens: dict[str, Any]) -> None:
    old = tokens["refresh_token"]
    response = api.token_request({"grant_type": "refresh_token", "refresh_token": old, "continuous_refresh": "true"})
    assert response.status_code == 200
    body = response.json()
    assert body["response_type"] == "refresh_token"
    assert body["refresh_token"] != old and body["refresh_token"].startswith("pinr_")
    assert body["access_token"] != tokens["access_token"]
    assert api.get(LISTS, token=body["access_token"]).status_code == 200
    reuse = api.token_request({"grant_type": "refresh_token", "refresh_token": old, "continuous_refresh": "true"})
    assert reuse.status_code == 401  # invalid grant: 401 code 283, as Pinterest is reported to answer
    assert reuse.json() == INVALID_GRANT
    chained = api.token_request({"grant_type": "refresh_token", "refresh_token": body["refresh_token"]})
    assert chained.status_code == 200


def test_continuous_refresh_restarts_the_60_day_lifetime(api: Api, tokens: dict[str, Any], clock: ManualClock) -> None:
    clock.advance(59 * DAY)
    body = api.token_request(
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "continuous_refresh": "true"}
    ).json()
    assert body["refresh_token_expires_at"] == int(clock()) + 60 * DAY
    clock.advance(59 * DAY)
    assert api.token_request({"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}).status_code == 200


def test_plain_refresh_returns_a_new_access_token_only(api: Api, tokens: dict[str, Any]) -> None:
    response = api.token_request({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert response.status_code == 200
    body = response.json()
    assert body["access_token"] != tokens["access_token"]
    assert body["refresh_token"] == tokens["refresh_token"]
    assert body["refresh_token_expires_at"] == tokens["refresh_token_expires_at"]
    again = api.token_request({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert again.status_code == 200


def test_expired_refresh_token_is_invalid_grant(api: Api, tokens: dict[str, Any], clock: ManualClock) -> None:
    clock.advance(tokens["refresh_token_expires_in"])
    response = api.token_request(
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "continuous_refresh": "true"}
    )
    assert response.status_code == 401  # invalid grant: 401 code 283, as Pinterest is reported to answer
    assert response.json() == INVALID_GRANT


def test_revoked_refresh_token_is_invalid_grant(api: Api, tokens: dict[str, Any], server: EmulatorServer) -> None:
    assert server.state.revoke_refresh_token(tokens["refresh_token"]) is True
    response = api.token_request({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert response.json() == INVALID_GRANT


def test_refresh_can_narrow_but_not_widen_the_scope(api: Api, tokens: dict[str, Any], server: EmulatorServer) -> None:
    narrowed = api.token_request(
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "scope": "ads:read"}
    ).json()
    assert narrowed["scope"] == "ads:read"
    write = api.post(LISTS, token=narrowed["access_token"], json={"name": "x", "records": "a@example.com"})
    assert write.json()["code"] == 3
    read_only = server.state.mint_tokens(scope="ads:read")
    widened = api.token_request(
        {"grant_type": "refresh_token", "refresh_token": read_only["refresh_token"], "scope": "ads:read,ads:write"}
    )
    assert widened.status_code == 400

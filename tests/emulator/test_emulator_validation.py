"""Requests are validated against Pinterest's OpenAPI description; so are the emulator's own responses."""

from __future__ import annotations

import json
import time

import requests
from pinterest_emulator import EmulatorServer, get_spec
from pinterest_emulator.records import is_valid_record

from tests.emulator.helpers import AD_ACCOUNT, Api, emails, spec_errors

LISTS = f"/ad_accounts/{AD_ACCOUNT}/customer_lists"


def test_missing_required_body_property_is_400_code_1(api: Api) -> None:
    response = api.post(LISTS, json={"name": "no records"})
    assert response.status_code == 400
    assert response.json()["code"] == 1
    assert "'records' is a required property" in response.json()["message"]


def test_wrong_type_is_400_without_echoing_the_value(api: Api) -> None:
    response = api.post(LISTS, json={"name": "x", "records": ["secret.person@example.com"]})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 1
    assert "records must be of type string" in body["message"]
    assert "secret.person" not in body["message"]


def test_enum_violation_is_400(api: Api) -> None:
    response = api.post(LISTS, json={"name": "x", "records": "a@b.co", "list_type": "PHONE"})
    assert response.status_code == 400
    assert "list_type" in response.json()["message"]


def test_invalid_path_parameter_is_400(api: Api) -> None:
    response = api.get("/ad_accounts/not-a-number/customer_lists")
    assert response.status_code == 400
    assert response.json()["code"] == 1
    assert "ad_account_id" in response.json()["message"]


def test_query_parameter_out_of_range_is_400(api: Api) -> None:
    response = api.get(LISTS, params={"page_size": 251})
    assert response.status_code == 400
    assert "page_size" in response.json()["message"]
    assert api.get(LISTS, params={"page_size": 250}).status_code == 200


def test_body_that_is_not_json_is_400(api: Api) -> None:
    response = api.post(LISTS, data=b"name=x", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["code"] == 1


def test_form_body_of_token_endpoint_is_validated(api: Api) -> None:
    bad_grant = api.token_request({"grant_type": "password"})
    assert bad_grant.status_code == 400
    assert bad_grant.json()["code"] == 1
    # The discriminator maps authorization_code to a schema that requires code and redirect_uri.
    no_redirect = api.token_request({"grant_type": "authorization_code", "code": "abc"})
    assert no_redirect.status_code == 400
    assert "redirect_uri" in no_redirect.json()["message"]


def test_unknown_path_is_404_and_wrong_method_is_405(api: Api) -> None:
    assert api.get("/no_such_thing", check=False).status_code == 404
    response = api.request("DELETE", f"{LISTS}/123", check=False)
    assert response.status_code == 405


def test_response_validation_detects_a_nonconforming_response(server: EmulatorServer) -> None:
    """Negative control: the response check used by every test can fail."""
    spec = get_spec()
    path = f"/v5{LISTS}/1"
    good = {"id": "1", "name": "x", "status": "READY", "type": "customerlist"}
    assert spec.response_errors("GET", path, 200, json.dumps(good).encode()) == []
    bad = {**good, "status": "DONE"}
    assert spec.response_errors("GET", path, 200, json.dumps(bad).encode()) != []
    refresh_without_refresh_token = {
        "access_token": "pina_x",
        "token_type": "bearer",
        "expires_in": 1,
        "scope": "ads:read",
        "response_type": "refresh_token",
    }
    errors = spec.response_errors("POST", "/v5/oauth/token", 200, json.dumps(refresh_without_refresh_token).encode())
    assert any("refresh_token" in e for e in errors)
    assert spec.response_errors("GET", path, 404, b'{"message": "no code"}') != []


def test_every_response_of_the_main_flows_conforms_to_the_spec(server: EmulatorServer, api: Api) -> None:
    root = server.root_url
    redirect = requests.get(
        f"{root}/oauth/",
        params={"client_id": "pinsync-local-app", "redirect_uri": "http://cb", "response_type": "code", "state": "s"},
        allow_redirects=False,
        timeout=10,
    )
    code = redirect.headers["Location"].split("code=")[1].split("&")[0]
    pair = api.token_request({"grant_type": "authorization_code", "code": code, "redirect_uri": "http://cb"}).json()
    api.token_request({"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]})
    rotated = api.token_request(
        {"grant_type": "refresh_token", "refresh_token": pair["refresh_token"], "continuous_refresh": "true"}
    )
    api.token_request({"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]})  # 283
    api.token_request({"grant_type": "refresh_token", "refresh_token": "x"}, auth=("pinsync-local-app", "bad"))
    api.token = rotated.json()["access_token"]
    api.get(f"/ad_accounts/{AD_ACCOUNT}")
    api.get("/ad_accounts/1")
    list_id = api.create_list(emails(3) + ",").json()["id"]
    api.update_list(list_id, "ADD", emails(5))
    api.update_list(list_id, "REMOVE", emails(1))
    api.update_list(list_id, "ADD", "Not-Lowercase@Example.com")
    api.get(f"{LISTS}/{list_id}")
    api.get(f"{LISTS}/999")
    api.get(LISTS, params={"page_size": 1, "order": "DESCENDING"})
    audience_id = api.create_audience(list_id).json()["id"]
    api.create_audience("42")
    api.get(f"/ad_accounts/{AD_ACCOUNT}/audiences/{audience_id}")
    api.get(f"/ad_accounts/{AD_ACCOUNT}/audiences", params={"page_size": 5})
    api.get(LISTS, token="pina_unknown")
    server.state.configure(rate_limit_per_second=1)
    api.get(LISTS)
    api.get(LISTS)  # 429
    server.state.configure(rate_limit_per_second=None)
    server.state.inject("error", status=503)
    api.get(LISTS)

    statuses = {r.status_code for r in api.responses}
    assert {200, 400, 401, 404, 429, 503} <= statuses
    assert len(api.responses) >= 20
    assert all(spec_errors(r) == [] for r in api.responses)


def test_a_long_record_of_many_dots_is_judged_in_linear_time() -> None:
    """The emulator's email check had the quadratic backtracking the sync function's had: an 80 KB record held a
    local stack's request (and the client's timeout) for about 20 seconds."""
    record = "x@" + "a." * 40_000 + "a,"
    started = time.perf_counter()
    valid = is_valid_record(record)
    elapsed = time.perf_counter() - started
    assert not valid
    assert elapsed < 1.0, f"{elapsed:.1f} s for one record"
    assert is_valid_record("x@" + "a." * 100 + "a")  # the same shape, well formed, is still an email

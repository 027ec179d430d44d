"""Customer-list audiences: creation rules, size and status following the list, listing."""

from __future__ import annotations

import pytest
from pinterest_emulator import EmulatorConfig, EmulatorServer

from tests.emulator.helpers import AD_ACCOUNT, Api, emails

AUDIENCES = f"/ad_accounts/{AD_ACCOUNT}/audiences"


@pytest.fixture
def config() -> EmulatorConfig:
    return EmulatorConfig(min_matched=4)


def test_create_audience_from_a_list(api: Api) -> None:
    list_id = api.create_list(emails(2)).json()["id"]
    response = api.post(
        AUDIENCES,
        json={
            "name": "Buyers",
            "audience_type": "CUSTOMER_LIST",
            "rule": {"customer_list_id": list_id},
            "description": "people who bought",
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert body["id"].isdigit()
    assert body["type"] == "audience"
    assert body["audience_type"] == "CUSTOMER_LIST"
    assert body["rule"] == {"customer_list_id": list_id}
    assert body["description"] == "people who bought"
    assert (body["size"], body["status"]) == (2, "TOO_SMALL")


def test_audience_for_missing_list_is_400(api: Api) -> None:
    response = api.create_audience("98765")
    assert response.status_code == 400
    assert response.json()["code"] == 1


def test_audience_for_list_of_another_ad_account_is_400(api: Api, server: EmulatorServer) -> None:
    server.state.add_ad_account("111111111111", "second")
    other = api.post("/ad_accounts/111111111111/customer_lists", json={"name": "x", "records": "a@example.com"})
    assert api.create_audience(other.json()["id"]).status_code == 400


def test_only_customer_list_audiences(api: Api) -> None:
    response = api.post(AUDIENCES, json={"name": "v", "audience_type": "VISITOR", "rule": {"retention_days": 30}})
    assert response.status_code == 400
    missing_rule_list = api.post(AUDIENCES, json={"name": "c", "audience_type": "CUSTOMER_LIST", "rule": {}})
    assert missing_rule_list.status_code == 400


def test_size_and_status_follow_the_list(api: Api) -> None:
    list_id = api.create_list(emails(3)).json()["id"]
    audience_id = api.create_audience(list_id).json()["id"]
    api.update_list(list_id, "ADD", emails(5))
    body = api.get(f"{AUDIENCES}/{audience_id}").json()
    assert (body["size"], body["status"]) == (5, "READY")
    api.update_list(list_id, "REMOVE", emails(2))
    body = api.get(f"{AUDIENCES}/{audience_id}").json()
    assert (body["size"], body["status"]) == (3, "TOO_SMALL")


def test_unknown_audience_is_404(api: Api) -> None:
    response = api.get(f"{AUDIENCES}/424242")
    assert response.status_code == 404
    assert response.json()["code"] == 404


def test_list_audiences_paginated(api: Api) -> None:
    list_id = api.create_list(emails(1)).json()["id"]
    ids = [api.create_audience(list_id, name=f"a{i}").json()["id"] for i in range(3)]
    first = api.get(AUDIENCES, params={"page_size": 2}).json()
    second = api.get(AUDIENCES, params={"page_size": 2, "bookmark": first["bookmark"]}).json()
    assert [a["id"] for a in first["items"] + second["items"]] == ids
    assert second["bookmark"] is None
    assert api.get(AUDIENCES, params={"ownership_type": "RECEIVED"}).json()["items"] == []

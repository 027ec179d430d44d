"""The reads the audience health check makes, as the emulator answers them: sizes and statuses from the members it
keeps, Pinterest's 100-member minimum, and 404 once a list or audience is deleted. Every response is checked against
the official spec (tests.emulator.helpers.Api)."""

from __future__ import annotations

import requests
from pinterest_emulator import EmulatorServer

from tests.emulator.helpers import AD_ACCOUNT, Api, emails

LISTS = f"/ad_accounts/{AD_ACCOUNT}/customer_lists"
AUDIENCES = f"/ad_accounts/{AD_ACCOUNT}/audiences"


def test_size_and_status_cross_pinterests_minimum_of_100(api: Api) -> None:
    list_id = api.create_list(emails(99)).json()["id"]
    audience_id = api.create_audience(list_id).json()["id"]

    small_list, small = api.get(f"{LISTS}/{list_id}").json(), api.get(f"{AUDIENCES}/{audience_id}").json()
    api.update_list(list_id, "ADD", emails(100))
    ready_list, ready = api.get(f"{LISTS}/{list_id}").json(), api.get(f"{AUDIENCES}/{audience_id}").json()

    assert (small["size"], small["status"], small_list["status"]) == (99, "TOO_SMALL", "TOO_SMALL")
    assert (ready["size"], ready["status"], ready_list["status"]) == (100, "READY", "READY")
    assert (ready_list["num_uploaded_user_records"], ready_list["num_batches"]) == (199, 2)  # records received


def test_a_deleted_list_answers_404_and_its_audience_empties(api: Api, server: EmulatorServer) -> None:
    list_id = api.create_list(emails(150)).json()["id"]
    audience_id = api.create_audience(list_id).json()["id"]

    assert server.state.delete_customer_list(list_id)

    gone = api.get(f"{LISTS}/{list_id}")
    assert (gone.status_code, gone.json()["code"]) == (404, 404)
    assert api.update_list(list_id, "ADD", emails(1)).status_code == 404
    audience = api.get(f"{AUDIENCES}/{audience_id}").json()
    assert (audience["size"], audience["status"]) == (0, "TOO_SMALL")
    assert not server.state.delete_customer_list(list_id)


def test_a_deleted_audience_answers_404_and_its_list_stays(api: Api, server: EmulatorServer) -> None:
    list_id = api.create_list(emails(3)).json()["id"]
    audience_id = api.create_audience(list_id).json()["id"]

    assert server.state.delete_audience(audience_id)

    gone = api.get(f"{AUDIENCES}/{audience_id}")
    assert (gone.status_code, gone.json()["code"]) == (404, 404)
    assert api.get(f"{LISTS}/{list_id}").status_code == 200
    assert audience_id not in {a["id"] for a in server.state.audiences()}


def test_delete_over_the_admin_api(api: Api, server: EmulatorServer) -> None:
    list_id = api.create_list(emails(2)).json()["id"]
    audience_id = api.create_audience(list_id).json()["id"]
    admin = f"{server.root_url}/_emulator"

    deleted_audience = requests.delete(f"{admin}/audiences", json={"id": audience_id}, timeout=10)
    deleted_list = requests.delete(f"{admin}/customer_lists", json={"id": list_id}, timeout=10)
    again = requests.delete(f"{admin}/customer_lists", json={"id": list_id}, timeout=10)

    assert (deleted_audience.status_code, deleted_audience.json()) == (200, {"deleted": audience_id})
    assert (deleted_list.status_code, deleted_list.json()) == (200, {"deleted": list_id})
    assert again.status_code == 404
    assert api.get(f"{LISTS}/{list_id}").status_code == 404
    assert api.get(f"{AUDIENCES}/{audience_id}").status_code == 404

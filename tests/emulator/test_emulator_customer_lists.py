"""Customer lists: records parsing and checking, set semantics of membership, the spec's counters, pagination."""

from __future__ import annotations

import hashlib

import pytest
from pinterest_emulator import EmulatorConfig, EmulatorServer

from tests.emulator.helpers import AD_ACCOUNT, Api, emails

LISTS = f"/ad_accounts/{AD_ACCOUNT}/customer_lists"
SHA256 = hashlib.sha256(b"jane@example.com").hexdigest()
SHA1 = hashlib.sha1(b"jane@example.com").hexdigest()  # noqa: S324 - a record format, not security
MD5 = hashlib.md5(b"jane@example.com").hexdigest()  # noqa: S324


@pytest.fixture
def config() -> EmulatorConfig:
    """Small limits for this module: at most 5 records per request, READY from 3 members."""
    return EmulatorConfig(max_records_per_request=5, min_matched=3)


def test_create_sets_members_and_counters(api: Api, server: EmulatorServer) -> None:
    response = api.create_list(f"a@example.com,{SHA256},{SHA1},{MD5}", name="Buyers")
    assert response.status_code == 200
    body = response.json()
    assert body["id"].isdigit() and len(body["id"]) <= 18
    assert body["name"] == "Buyers"
    assert body["ad_account_id"] == AD_ACCOUNT
    assert body["type"] == "customerlist"
    assert (body["num_batches"], body["num_uploaded_user_records"], body["num_removed_user_records"]) == (1, 4, 0)
    assert body["status"] == "READY"  # 4 members >= min_matched 3
    assert server.state.members(body["id"]) == {"a@example.com", SHA256, SHA1, MD5}


def test_trailing_comma_and_empty_entries_are_ignored(api: Api, server: EmulatorServer) -> None:
    body = api.create_list("a@example.com,,b@example.com,").json()
    assert body["num_uploaded_user_records"] == 2
    assert server.state.members(body["id"]) == {"a@example.com", "b@example.com"}


def test_add_is_a_set_union_but_counts_every_record(api: Api, server: EmulatorServer) -> None:
    list_id = api.create_list("a@example.com,b@example.com").json()["id"]
    body = api.update_list(list_id, "ADD", "b@example.com,c@example.com,c@example.com").json()
    assert server.state.members(list_id) == {"a@example.com", "b@example.com", "c@example.com"}
    assert body["num_uploaded_user_records"] == 5  # 2 + 3, duplicates and existing members included
    assert body["num_batches"] == 2


def test_remove_counts_records_even_when_not_in_the_list(api: Api, server: EmulatorServer) -> None:
    list_id = api.create_list("a@example.com,b@example.com").json()["id"]
    body = api.update_list(list_id, "REMOVE", "a@example.com,nobody@example.com").json()
    assert server.state.members(list_id) == {"b@example.com"}
    assert body["num_removed_user_records"] == 2
    assert body["num_uploaded_user_records"] == 2
    assert body["num_batches"] == 2


def test_get_returns_the_current_list(api: Api) -> None:
    list_id = api.create_list("a@example.com").json()["id"]
    api.update_list(list_id, "ADD", "b@example.com")
    body = api.get(f"{LISTS}/{list_id}").json()
    assert body["id"] == list_id
    assert body["num_batches"] == 2


def test_unknown_list_is_404(api: Api) -> None:
    response = api.get(f"{LISTS}/123456")
    assert response.status_code == 404
    assert response.json()["code"] == 404
    assert api.update_list("123456", "ADD", "a@example.com").status_code == 404


def test_list_of_another_ad_account_is_404(api: Api, server: EmulatorServer) -> None:
    server.state.add_ad_account("111111111111", "second")
    other = api.post("/ad_accounts/111111111111/customer_lists", json={"name": "x", "records": "a@example.com"})
    assert other.status_code == 200
    assert api.get(f"{LISTS}/{other.json()['id']}").status_code == 404


def test_unknown_ad_account_is_404(api: Api) -> None:
    response = api.post("/ad_accounts/999/customer_lists", json={"name": "x", "records": "a@example.com"})
    assert response.status_code == 404
    assert response.json() == {"code": 404, "message": "Ad account not found."}


@pytest.mark.parametrize(
    "bad",
    [
        "Jane.Doe@Example.com",  # not lowercase
        "not-an-email",
        " padded@example.com",
        SHA256.upper(),
        SHA256[:-1],  # 63 hex chars
        "g" * 64,
    ],
)
def test_invalid_record_is_400_and_not_echoed(api: Api, server: EmulatorServer, bad: str) -> None:
    list_id = api.create_list("a@example.com").json()["id"]
    response = api.update_list(list_id, "ADD", f"b@example.com,{bad}")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 1
    assert "position 1" in body["message"]
    assert bad.strip() not in body["message"]
    # nothing was applied
    assert server.state.members(list_id) == {"a@example.com"}
    assert api.get(f"{LISTS}/{list_id}").json()["num_batches"] == 1


def test_max_records_per_request(api: Api, server: EmulatorServer) -> None:
    too_many = api.create_list(emails(6))
    assert too_many.status_code == 400
    assert too_many.json()["code"] == 1
    assert "too many records" in too_many.json()["message"]
    assert api.create_list(emails(5) + ",").status_code == 200
    server.state.configure(max_records_per_request=10)
    assert api.create_list(emails(6)).status_code == 200


def test_poison_record_rejects_the_whole_request(api: Api, server: EmulatorServer) -> None:
    list_id = api.create_list("a@example.com").json()["id"]
    server.state.add_poison_records(["poison@example.com"])
    response = api.update_list(list_id, "ADD", "b@example.com,poison@example.com,c@example.com")
    assert response.status_code == 400
    assert response.json() == {"code": 1, "message": "Invalid record"}
    assert api.update_list(list_id, "ADD", "b@example.com,c@example.com").status_code == 200
    assert server.state.members(list_id) == {"a@example.com", "b@example.com", "c@example.com"}
    assert api.create_list("poison@example.com").status_code == 400


def test_status_follows_min_matched(api: Api) -> None:
    list_id = api.create_list("a@example.com,b@example.com").json()["id"]
    assert api.get(f"{LISTS}/{list_id}").json()["status"] == "TOO_SMALL"
    assert api.update_list(list_id, "ADD", "c@example.com").json()["status"] == "READY"
    assert api.update_list(list_id, "REMOVE", "a@example.com").json()["status"] == "TOO_SMALL"


def test_default_min_matched_is_100() -> None:
    assert EmulatorConfig().min_matched == 100


def test_pagination_with_bookmark(api: Api) -> None:
    created = [api.create_list("a@example.com", name=f"l{i}").json()["id"] for i in range(5)]
    seen: list[str] = []
    bookmark = None
    pages = 0
    while True:
        params = {"page_size": 2, **({"bookmark": bookmark} if bookmark else {})}
        body = api.get(LISTS, params=params).json()
        pages += 1
        seen += [item["id"] for item in body["items"]]
        bookmark = body["bookmark"]
        if bookmark is None:
            break
    assert pages == 3
    assert seen == sorted(created, key=int)
    descending = api.get(LISTS, params={"order": "DESCENDING", "page_size": 250}).json()
    assert [i["id"] for i in descending["items"]] == sorted(created, key=int, reverse=True)
    assert descending["bookmark"] is None


def test_default_page_size_is_25(api: Api, server: EmulatorServer) -> None:
    server.state.configure(max_records_per_request=5)
    for i in range(26):
        api.create_list("a@example.com", name=f"l{i}")
    body = api.get(LISTS).json()
    assert len(body["items"]) == 25
    assert body["bookmark"] is not None


def test_invalid_bookmark_is_400(api: Api) -> None:
    response = api.get(LISTS, params={"bookmark": "garbage!"})
    assert response.status_code == 400
    assert response.json()["code"] == 1


def test_list_type_is_kept(api: Api, server: EmulatorServer) -> None:
    body = api.create_list(SHA256, list_type="MAID").json()
    admin_view = {cl["id"]: cl for cl in server.state.customer_lists()}
    assert admin_view[body["id"]]["list_type"] == "MAID"
    default = api.create_list("a@example.com").json()
    assert {cl["id"]: cl for cl in server.state.customer_lists()}[default["id"]]["list_type"] == "EMAIL"

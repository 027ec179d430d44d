"""`pinsync audiences`: mappings from the state table with Pinterest's live status; activations."""

from __future__ import annotations

import json
from pathlib import Path

from pinterest_emulator import DEFAULT_AD_ACCOUNT_ID

from tests.builders import FakeContext
from tests.cli.conftest import process


def sync(stack, run_cli, tmp_path: Path, members: dict[str, int]) -> None:
    """Send `count` members per audience with `pinsync send` and let the sync function process them."""
    path = tmp_path / "members.csv"
    lines = ["email,audience_id"] + [
        f"{audience}{i}@example.com,{audience}" for audience, count in members.items() for i in range(count)
    ]
    path.write_text("\n".join(lines) + "\n")
    assert run_cli("send", str(path)).code == 0
    process(stack)


def test_lists_ready_and_too_small_audiences_with_live_status(stack, run_cli, tmp_path: Path):
    stack.emulator.state.configure(min_matched=3)
    sync(stack, run_cli, tmp_path, {"big": 4, "small": 1})

    result = run_cli("audiences", "--min-matched", "3")

    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == "activations: none recorded, ACTIVATED_AUDIENCES decides what syncs"
    assert lines[1].split() == [
        "AUDIENCE", "ACTIVE", "MAPPING", "CUSTOMER", "LIST", "PINTEREST", "AUDIENCE", "STATUS", "SIZE", "NAME", "HEALTH",
        "NOTE",
    ]  # fmt: skip
    big = next(line for line in lines if line.startswith("big "))
    small = next(line for line in lines if line.startswith("small "))
    assert big.split()[:3] == ["big", "config", "READY"]
    assert " READY " in big and " 4 " in big and "under" not in big
    assert " TOO_SMALL " in small and " 1 " in small
    assert "under 3 matched accounts: the audience cannot be used yet" in small

    # Pinterest's own threshold (the default) flags both
    default = run_cli("audiences", "--json")
    document = json.loads(default.out)
    rows = {row["audience_id"]: row for row in document["audiences"]}
    assert rows["big"]["status"] == "READY" and rows["big"]["size"] == 4
    assert rows["small"]["status"] == "TOO_SMALL"
    assert all("under 100 matched accounts" in row["flag"] for row in rows.values())
    assert document["activations"] is None
    assert document["pinterest"] == "live"


def test_without_pinterest_settings_the_table_is_still_listed(stack, run_cli, tmp_path: Path, monkeypatch):
    sync(stack, run_cli, tmp_path, {"seg": 1})
    monkeypatch.delenv("TOKEN_SECRET_ID")
    result = run_cli("audiences")
    assert result.code == 0
    assert "Pinterest: n/a: give --secret-id and --ad-account-id" in result.out
    assert "seg " in result.out and " n/a " in result.out
    assert run_cli("audiences", "list", "--no-pinterest").code == 0


def test_activate_link_and_deactivate(stack, run_cli, tmp_path: Path):
    # deactivating before any activation would stop every audience: refused
    refused = run_cli("audiences", "deactivate", "seg")
    assert refused.code == 2
    assert "would stop every audience" in refused.err

    first = run_cli("audiences", "activate", "seg", "--name", "Spring sale")
    assert first.code == 0, first.err
    assert "activated seg as 'Spring sale'" in first.out
    assert "first activation" in first.out

    # an unknown customer list is refused by Pinterest; nothing is written
    unknown = run_cli("audiences", "activate", "other", "--customer-list-id", "999999")
    assert unknown.code == 3
    assert "does not exist" in unknown.err

    existing = stack.emulator.state.create_customer_list(DEFAULT_AD_ACCOUNT_ID, "from the UI", "", "EMAIL")
    linked = run_cli("audiences", "activate", "other", "--customer-list-id", existing["id"])
    assert linked.code == 0, linked.err
    assert "'from the UI'" in linked.out and "first activation" not in linked.out
    relink = run_cli("audiences", "activate", "other", "--customer-list-id", "12345")
    assert relink.code == 2 and "--force" in relink.err

    listing = json.loads(run_cli("audiences", "--json").out)
    assert listing["activations"] == ["other", "seg"]
    rows = {row["audience_id"]: row for row in listing["audiences"]}
    assert rows["other"]["customer_list_id"] == existing["id"] and rows["other"]["state"] == "READY"
    assert rows["other"]["status"] == "TOO_SMALL"
    assert rows["seg"]["state"] == "CREATING" and rows["seg"]["name"] == "Spring sale"

    # the sync creates the list under the recorded name, and only activated audiences go through
    sync(stack, run_cli, tmp_path, {"seg": 2, "ignored": 1})
    names = sorted(customer_list["name"] for customer_list in stack.emulator.state.customer_lists())
    assert names == ["Spring sale", "from the UI"]

    assert run_cli("audiences", "deactivate", "seg").code == 0
    assert "not activated; nothing to do" in run_cli("audiences", "deactivate", "seg").out
    after = json.loads(run_cli("audiences", "--json").out)
    assert after["activations"] == ["other"]
    assert {row["audience_id"]: row["active"] for row in after["audiences"]} == {"other": "yes", "seg": "no"}


def test_a_missing_table_is_an_aws_error(stack, run_cli):
    result = run_cli("audiences", "--table", "no-such-table")
    assert result.code == 4
    assert "cannot read the state table (ResourceNotFoundException" in result.err


def test_linking_keeps_the_pinterest_audience_and_waits_for_a_creation_in_progress(stack, run_cli):
    from datetime import UTC, datetime, timedelta

    from local_stack.stack import TABLE
    from pinsync.adapters.dynamo_mappings import DynamoMappingStore

    store = DynamoMappingStore(stack.client("dynamodb"), TABLE)
    existing = stack.emulator.state.create_customer_list(DEFAULT_AD_ACCOUNT_ID, "from the UI", "", "EMAIL")
    assert run_cli("audiences", "activate", "seg", "--name", "Spring").code == 0
    assert run_cli("audiences", "activate", "seg", "--customer-list-id", existing["id"]).code == 0
    store.record_audience("seg", "AUD-1")

    # re-running the same activation keeps what the sync recorded
    assert run_cli("audiences", "activate", "seg", "--customer-list-id", existing["id"]).code == 0
    mapping = store.get_mappings(["seg"])["seg"]
    assert (mapping.customer_list_id, mapping.pinterest_audience_id, mapping.name) == (
        existing["id"],
        "AUD-1",
        "Spring",
    )

    # while a sync invocation holds the creation lease of another audience, linking it is refused
    assert store.claim_creation("new", "invocation-1", datetime.now(UTC), timedelta(minutes=5), name="pinsync new")
    refused = run_cli("audiences", "activate", "new", "--customer-list-id", existing["id"])
    assert refused.code == 2 and "creating the customer list of audience new right now" in refused.err
    mapping = store.get_mappings(["new"])["new"]
    assert (mapping.state.value, mapping.customer_list_id) == ("CREATING", None)


def test_the_latest_health_check_is_shown_per_audience(stack, run_cli, tmp_path: Path):
    sync(stack, run_cli, tmp_path, {"big": 4, "gone": 2})
    stack.health_handler()({}, FakeContext())
    gone_list = json.loads(run_cli("audiences", "--json").out)["audiences"][1]["customer_list_id"]
    stack.emulator.state.delete_customer_list(gone_list)
    stack.health_handler()({}, FakeContext())

    result = run_cli("audiences", "--no-pinterest")

    assert result.code == 0, result.err
    big = next(line for line in result.out.splitlines() if line.startswith("big "))
    gone = next(line for line in result.out.splitlines() if line.startswith("gone "))
    assert "too_small, size 4 (was 4), checked " in big
    assert "missing, missing customer list, size 0 (was 2), checked " in gone  # its audience stays, emptied
    rows = {
        row["audience_id"]: row for row in json.loads(run_cli("audiences", "--json", "--no-pinterest").out)["audiences"]
    }
    assert rows["big"]["health"]["state"] == "too_small" and rows["big"]["health"]["size"] == 4
    assert rows["gone"]["health"]["missing"] == ["customer_list"] and rows["gone"]["health"]["previous_size"] == 2
    assert gone_list not in json.dumps(rows["gone"]["health"])  # no Pinterest id in the health facts


def test_deactivate_reads_the_audience_id_as_activate_does(stack, run_cli):
    assert run_cli("audiences", "activate", " seg").code == 0  # activate trims: "seg" is activated
    assert run_cli("audiences", "activate", "keep").code == 0

    result = run_cli("audiences", "deactivate", " seg")

    assert result.code == 0, result.err
    assert "deactivated seg" in result.out
    assert json.loads(run_cli("audiences", "--json", "--no-pinterest").out)["activations"] == ["keep"]
    bidi = run_cli("audiences", "deactivate", "seg\u202e")
    assert bidi.code == 2 and "the audience id has control" in bidi.err


def test_a_list_name_pinterest_cannot_take_is_a_usage_error_and_nothing_is_recorded(stack, run_cli):
    for name, problem in [
        ("   ", "is empty"),
        ("n" * 256, "is longer than 255 characters"),
        ("Spring\nsale", "has control, invisible or bidirectional-override characters"),
        ("Spring\u202esale", "has control, invisible or bidirectional-override characters"),
    ]:
        result = run_cli("audiences", "activate", "seg", "--name", name)
        assert result.code == 2, name
        assert result.err == f"pinsync audiences: --name {problem}\n"
    assert json.loads(run_cli("audiences", "--json", "--no-pinterest").out)["activations"] is None

    trimmed = run_cli("audiences", "activate", "seg", "--name", " Spring sale ")
    assert trimmed.code == 0 and "activated seg as 'Spring sale'" in trimmed.out

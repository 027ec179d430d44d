"""Whether the connected user may manage audiences: from the scopes and the roles Pinterest reports."""

from __future__ import annotations

import pytest
from pinsync.access import audience_access_problem, describe_audience_access

# GET /ad_accounts/{id} as Pinterest's OpenAPI description shapes it (AdAccount), with the user's roles.
ACCOUNT = {"id": "549755885175", "name": "ACME Tools", "owner": {"username": "acme"}, "country": "US"}
WRITE = "ads:read,ads:write"


@pytest.mark.parametrize(
    "permissions",
    [["OWNER"], ["ADMIN"], ["AUDIENCE_MANAGER"], ["ANALYST", "AUDIENCE_MANAGER"], ["CAMPAIGN_MANAGER", "ADMIN"]],
)
def test_a_role_that_grants_audience_access_passes(permissions):
    assert audience_access_problem({**ACCOUNT, "permissions": permissions}, WRITE) is None
    assert describe_audience_access({**ACCOUNT, "permissions": permissions}).startswith("yes (")


@pytest.mark.parametrize(
    ("permissions", "named"),
    [
        (["ANALYST"], "has ANALYST on the ad account"),
        (["CAMPAIGN_MANAGER", "FINANCE_VIEW"], "has CAMPAIGN_MANAGER, FINANCE_VIEW on"),
        (["owner"], "has 1 other role(s) on"),  # roles are Pinterest's upper-case enum values: no loose match
        (["X" * 10_000, "ANALYST"], "has ANALYST, 1 other role(s) on"),  # an unknown value is counted, not repeated
    ],
)
def test_a_read_only_user_is_refused_naming_what_it_has_and_what_is_missing(permissions, named):
    problem = audience_access_problem({**ACCOUNT, "permissions": permissions}, WRITE)
    assert problem is not None and named in problem
    assert "Admin or Audience access" in problem and "Business Access" in problem
    assert len(problem) < 400
    assert describe_audience_access({**ACCOUNT, "permissions": permissions}) == "no"


@pytest.mark.parametrize(
    ("scope", "missing"),
    [
        ("ads:read", "ads:write"),
        ("ads:write", "ads:read"),
        ("", "ads:read and ads:write"),
        ("user_accounts:read", "ads:read and ads:write"),
    ],
)
def test_a_token_granted_without_the_ads_scopes_is_refused(scope, missing):
    problem = audience_access_problem({**ACCOUNT, "permissions": ["OWNER"]}, scope)
    assert problem is not None and f"without the {missing} scope" in problem


def test_scopes_are_read_as_pinterest_writes_them():
    assert audience_access_problem({**ACCOUNT, "permissions": ["OWNER"]}, "ads:write ads:read,boards:read") is None


def test_both_problems_are_said_at_once():
    problem = audience_access_problem({**ACCOUNT, "permissions": ["ANALYST"]}, "ads:read")
    assert problem is not None and "ads:write scope" in problem and "ANALYST" in problem


@pytest.mark.parametrize("permissions", [None, [], "OWNER", {"role": "ANALYST"}, [1, 2], ["ANALYST", None]])
def test_roles_not_reported_or_malformed_are_not_judged(permissions):
    account = dict(ACCOUNT) if permissions is None else {**ACCOUNT, "permissions": permissions}
    assert audience_access_problem(account, WRITE) is None
    assert audience_access_problem(account, None) is None  # nor a scope that was not reported
    assert describe_audience_access(account).startswith("not reported")

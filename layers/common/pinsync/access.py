"""Whether the connected Pinterest user may manage the ad account's customer lists and audiences.

Reading the ad account proves little: a read-only user reads it fine, and every write fails later. Pinterest reports
the rest in two places, and both are checked where access is granted (``pinsync connect``) and where a new token is
tested (the rotation's ``testSecret``):

- the token's scopes (the token answer's ``scope``): creating and updating customer lists and audiences needs
  ``ads:write`` (the ``security`` of ``customer_lists/create``, ``customer_lists/update``, ``audiences/create`` and
  ``audiences/update`` in Pinterest's OpenAPI description), reading them ``ads:read``;
- the user's roles on the ad account (``permissions`` of ``GET /ad_accounts/{id}``, values of ``BusinessAccessRole``).
  Pinterest's help ("Add people to your ad account", help.pinterest.com) gives "Create and edit audiences" to the
  Admin and Audience access levels; the owner holds every right.

A role list Pinterest does not send, sends empty (a user with no role could not have read the account at all) or
sends malformed is not reported: nothing to judge, so no refusal.
"""

from __future__ import annotations

from collections.abc import Mapping

REQUIRED_SCOPES = ("ads:read", "ads:write")
AUDIENCE_ROLES = frozenset({"OWNER", "ADMIN", "AUDIENCE_MANAGER"})
# BusinessAccessRole in Pinterest's OpenAPI description: only these are ever repeated in a message.
KNOWN_ROLES = frozenset(
    {
        "OWNER",
        "ADMIN",
        "ANALYST",
        "SOS_READER",
        "FINANCE_MANAGER",
        "FINANCE_VIEW",
        "FINANCE_EDIT",
        "AUDIENCE_MANAGER",
        "CAMPAIGN_MANAGER",
        "CATALOGS_MANAGER",
        "RESTRICTED_OWNER",
        "PROFILE_MANAGER",
        "PROFILE_PUBLISHER",
        "RESOURCE_PINNER_LIST_OWNER",
        "RESOURCE_PINNER_LIST_READER",
        "BIZ_PINNER_LIST_SHARER",
        "RESOURCE_CONVERSION_TAGS_READER",
    }
)


def scopes_of(scope: str) -> frozenset[str]:
    """Pinterest writes scopes comma-separated (``ads:read,ads:write``); spaces are accepted too."""
    return frozenset(part for part in scope.replace(" ", ",").split(",") if part)


def audience_access_problem(ad_account: Mapping[str, object], scope: str | None) -> str | None:
    """What keeps the user from managing customer lists and audiences, in words an operator can act on; ``None``
    when nothing Pinterest reported says so. ``scope`` is the token's granted scope (``None``: not reported)."""
    problems = []
    if scope is not None:
        missing = [needed for needed in REQUIRED_SCOPES if needed not in scopes_of(scope)]
        if missing:
            problems.append(
                f"the token was granted without the {' and '.join(missing)} scope: reconnect and grant "
                f"{','.join(REQUIRED_SCOPES)}"
            )
    permissions = _roles(ad_account)
    if permissions is not None:
        roles = set(permissions)
        if not roles & AUDIENCE_ROLES:
            named = sorted(roles & KNOWN_ROLES)
            others = len(roles - KNOWN_ROLES)
            held = ", ".join(named + ([f"{others} other role(s)"] if others else []))
            problems.append(
                f"the connected user has {held} on the ad account: managing customer lists and audiences needs "
                "Admin or Audience access (ADMIN, AUDIENCE_MANAGER) or ownership; ask an admin of the ad account "
                "to grant it in Pinterest Business Access, or connect as a user who has it"
            )
    return "; ".join(problems) or None


def _roles(ad_account: Mapping[str, object]) -> list[str] | None:
    """The user's roles as Pinterest reports them, or None when it does not (absent, empty, or malformed)."""
    permissions = ad_account.get("permissions")
    if not isinstance(permissions, list) or not permissions:
        return None
    if not all(isinstance(role, str) for role in permissions):
        return None
    return permissions


def describe_audience_access(ad_account: Mapping[str, object]) -> str:
    """One line for an operator: the roles that grant audience access, or that Pinterest did not report them."""
    permissions = _roles(ad_account)
    if permissions is None:
        return "not reported by Pinterest (the user's roles could not be checked)"
    granting = sorted(set(permissions) & AUDIENCE_ROLES)
    return f"yes ({', '.join(granting)})" if granting else "no"

"""The consent policy: which XDM consent values deny sharing with Pinterest, and what a malformed value means."""

from __future__ import annotations

import pytest
from pinsync.sync.consent import ConsentPolicy, denies_sharing, share_consent

# Every value Adobe's consent data types document for `val` (XDM "Consents and Preferences").
VALUES = ["y", "n", "p", "u", "dy", "dn", "LI", "CT", "CP", "VI", "PI"]
DENIED = {
    ConsentPolicy.OPT_OUT: {"n", "dn"},
    ConsentPolicy.OPT_IN: {"n", "dn", "p", "u", "LI", "CT", "CP", "VI", "PI"},
    ConsentPolicy.IGNORE: set(),
}


@pytest.mark.parametrize("policy", list(ConsentPolicy))
@pytest.mark.parametrize("value", VALUES)
def test_every_documented_value_under_every_policy(policy, value):
    consents = {"share": {"val": value}, "marketing": {"any": {"val": "y"}}}
    assert denies_sharing(consents, policy) is (value in DENIED[policy])


@pytest.mark.parametrize("consents", [{"share": {"val": " N "}}, {"share": {"val": "DN"}}])
def test_values_are_read_case_and_space_insensitively(consents):
    assert denies_sharing(consents, ConsentPolicy.OPT_OUT)
    assert denies_sharing(consents, ConsentPolicy.OPT_IN)


@pytest.mark.parametrize(
    "consents",
    [
        None,
        {},
        "n",
        ["n"],
        {"share": "n"},
        {"share": None},
        {"share": {}},
        {"share": {"val": None}},
        {"share": {"val": 0}},
        {"share": {"val": ["n"]}},
        {"share": {"val": ""}},
        {"marketing": {"any": {"val": "n"}}, "personalize": {"content": {"val": "n"}}},  # not about sharing
        {"collect": {"val": "n"}},
    ],
)
def test_absent_or_malformed_consent_is_what_the_policy_says_absent_means(consents):
    assert share_consent(consents) in (None, "")
    assert not denies_sharing(consents, ConsentPolicy.OPT_OUT)  # as before: no objection recorded
    assert denies_sharing(consents, ConsentPolicy.OPT_IN)  # no yes recorded
    assert not denies_sharing(consents, ConsentPolicy.IGNORE)


def test_a_deeply_nested_or_huge_value_is_read_without_walking_it():
    deep: dict[str, object] = {}
    for _ in range(10_000):
        deep = {"share": deep}
    assert not denies_sharing(deep, ConsentPolicy.OPT_OUT)
    assert not denies_sharing({"share": {"val": "n" * 1_000_000}}, ConsentPolicy.OPT_OUT)

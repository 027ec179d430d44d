"""Whether a profile's consent lets its identifiers be shared with Pinterest.

Profiles may carry AEP's "Consents and Preferences" field group (XDM, ``consents``). Adobe's documentation of the
field group and of its consent data types (experienceleague.adobe.com: xdm/field-groups/profile/consents,
xdm/data-types/consents; schemas in github.com/adobe/xdm, components/datatypes/consent) defines:

- ``consents.share.val``: whether the customer consents to their data being shared with second or third parties.
  Uploading a customer list to an advertising platform is exactly that, so this is the field pinsync reads.
- ``consents.collect``, ``consents.marketing.*`` (may the brand contact the person on a channel) and
  ``consents.personalize.*`` (may the brand personalise the experience it shows them) are about the brand's own
  processing and contact, not about sharing with a third party: they are not read.
- values: ``y`` yes (opted in), ``n`` no (opted out), ``p`` pending verification or not answered yet, ``u`` unknown,
  ``dy`` no choice made and treated as yes by default, ``dn`` no choice made and treated as no by default; ``LI``,
  ``CT``, ``CP``, ``VI``, ``PI`` (legitimate interest, contract, legal obligation, vital and public interest) are
  bases for collecting data and say nothing about sharing it with an advertising platform.

The policy (template parameter ``ConsentPolicy``):

- ``OptOut`` (default): sharing is denied when the person said no, explicitly or by default (``n``, ``dn``);
  everything else, a profile without consent fields included, behaves as before. For jurisdictions where sharing
  needs no prior consent but an objection must be honoured.
- ``OptIn``: sharing needs a yes (``y`` or ``dy``); anything else, a missing field included, is denied. For
  jurisdictions where sharing with an advertising platform needs prior consent (GDPR, for most uses).
- ``Ignore``: consent fields are not read (the producer filters before sending).

A ``consents`` value of the wrong shape is treated as absent: the policy decides what absent means.
"""

from __future__ import annotations

from enum import StrEnum


class ConsentPolicy(StrEnum):
    OPT_OUT = "OptOut"
    OPT_IN = "OptIn"
    IGNORE = "Ignore"


DENIED_UNDER_OPT_OUT = frozenset({"n", "dn"})
GRANTED_UNDER_OPT_IN = frozenset({"y", "dy"})


def share_consent(consents: object) -> str | None:
    """``consents.share.val`` lowercased, or None when absent or not of the documented shape."""
    if not isinstance(consents, dict):
        return None
    share = consents.get("share")
    if not isinstance(share, dict):
        return None
    value = share.get("val")
    return value.strip().lower() if isinstance(value, str) else None


def denies_sharing(consents: object, policy: ConsentPolicy) -> bool:
    """Whether the profile must not be shared with Pinterest (and must be removed from every list)."""
    if policy is ConsentPolicy.IGNORE:
        return False
    value = share_consent(consents)
    if policy is ConsentPolicy.OPT_IN:
        return value not in GRANTED_UNDER_OPT_IN
    return value in DENIED_UNDER_OPT_OUT

"""Identity namespaces, normalisation, validation and hashing.

Every identity that reaches Pinterest is a lowercase SHA-256 hex digest:

- emails are normalised (:func:`normalise_email`: control and invisible characters removed, Unicode NFKC, trimmed,
  lowercased, the domain in one canonical form) before hashing; Pinterest matches on the lowercase address;
- advertising ids (GAID, IDFA) are trimmed and lowercased before hashing (Pinterest requires MAIDs to be hashed);
- values that arrive already hashed (``Email_LC_SHA256``) must be 64 hex characters and pass through lowercased.

Placeholders (``placeholder_identity``) are never sent and never key a profile: the all-zero advertising id that
iOS and Android report when the person opted out of tracking (or any UUID of one repeated digit), empty or
whitespace values, tokens such as ``null`` or ``undefined``, and the SHA-256 of any of these. They are values many
people share, so sending one would merge different people. Plain identifiers never leave this module.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

import idna

from pinsync.events import ExclusionReason


class IdentityKind(StrEnum):
    """What a namespace holds, which decides how it is validated and hashed."""

    EMAIL = "email"
    EMAIL_SHA256 = "email_sha256"
    GAID = "gaid"
    IDFA = "idfa"


DEFAULT_NAMESPACES = "Email=email,Email_LC_SHA256=email_sha256,GAID=gaid,IDFA=idfa"

# Deliberately simple: one @, no whitespace, a dot in the domain. Full RFC 5322 validation would accept
# addresses no CDP ever exports and reject nothing Pinterest would match. The lookahead checks the whole domain once
# before the dot is looked for: without it, a long domain of many dots followed by a character it may not hold made
# the dot search backtrack over every dot for every dot (quadratic: 80 KB took 20 s). Same addresses accepted.
_EMAIL = re.compile(r"^[^@\s,]+@(?=[^@\s,]+$)[^@\s,]+\.[^@\s,]+$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class HashedIdentity:
    """A normalised, hashed identifier ready for a Pinterest ``records`` string."""

    kind: IdentityKind
    record: str


@dataclass(frozen=True, slots=True)
class ExcludedIdentity:
    """An identity that will not be sent, with a reason that is safe to log and count."""

    reason: str


class NamespaceMapError(ValueError):
    """The configured namespace map cannot be parsed."""


def parse_namespace_map(spec: str) -> dict[str, IdentityKind]:
    """Parse ``"Email=email,GAID=gaid"`` into a case-insensitive namespace → kind map (keys lowercased)."""
    mapping: dict[str, IdentityKind] = {}
    for entry in filter(None, (part.strip() for part in spec.split(","))):
        namespace, separator, kind = entry.partition("=")
        if not separator or not namespace.strip():
            raise NamespaceMapError(f"entry {entry!r} is not NAMESPACE=KIND")
        try:
            mapping[namespace.strip().lower()] = IdentityKind(kind.strip().lower())
        except ValueError:
            kinds = ", ".join(kind.value for kind in IdentityKind)
            raise NamespaceMapError(
                f"unknown kind {kind.strip()!r} for {namespace.strip()!r}; use one of {kinds}"
            ) from None
    if not mapping:
        raise NamespaceMapError("no namespace is mapped")
    return mapping


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


# Values people share rather than own, compared after trimming and lowercasing.
PLACEHOLDER_VALUES = frozenset({"", "null", "none", "nil", "undefined", "unknown", "n/a", "na", "-", "0"})
# The all-zero advertising id, and every other UUID of one repeated digit (the empty GUID of a CRM id, too).
_REPEATED_DIGIT_UUIDS = frozenset(f"{d * 8}-{d * 4}-{d * 4}-{d * 4}-{d * 12}" for d in "0123456789abcdef")
_PLACEHOLDER_RECORDS = frozenset(
    {sha256_hex(value) for value in PLACEHOLDER_VALUES | _REPEATED_DIGIT_UUIDS} | {"0" * 64}
)


def is_placeholder(normalised: str) -> bool:
    """A trimmed, lowercased value that many profiles share (see the module docstring), in any namespace: the
    repeated-digit UUIDs too, so that an unmapped namespace (a CRM id) cannot key profiles by one either."""
    return normalised in PLACEHOLDER_VALUES or normalised in _REPEATED_DIGIT_UUIDS or normalised in _PLACEHOLDER_RECORDS


def normalise_email(raw: str) -> str:
    """The canonical form of an email address, before hashing.

    Control and invisible (format) characters are removed (zero-width spaces and joiners, bidi marks, BOMs), then
    Unicode NFKC (full-width letters and compatibility forms become their plain equivalents), surrounding whitespace
    is trimmed and everything is lowercased. An internationalised domain takes one form, Unicode (IDNA U-labels per
    UTS #46), so ``jane@bücher.de`` and ``jane@xn--bcher-kva.de`` hash alike. ASCII addresses without ``xn--``, nearly
    all of them, take a fast path with the same result.
    """
    if raw.isascii():
        value = raw.strip().lower()
        if value.isprintable() and "xn--" not in value:
            return value
    text = "".join(ch for ch in raw if unicodedata.category(ch) not in ("Cc", "Cf"))
    text = unicodedata.normalize("NFKC", text).strip().lower()
    local, at, domain = text.rpartition("@")
    if not at or not domain or (domain.isascii() and "xn--" not in domain):
        return text
    with contextlib.suppress(idna.IDNAError, UnicodeError, ValueError):  # not a valid IDN: left as it is
        domain = idna.decode(domain, uts46=True)
    return f"{local}@{domain}"


Record = str  # a Pinterest record: lowercase SHA-256 hex
RecordOrExclusion = Record | ExclusionReason  # an ExclusionReason is a str too: tell them apart with `type(x) is str`


def _email(raw: str) -> RecordOrExclusion:
    value = normalise_email(raw)
    if value in PLACEHOLDER_VALUES:
        return ExclusionReason.PLACEHOLDER_IDENTITY
    if not _EMAIL.match(value):
        return ExclusionReason.INVALID_IDENTITY
    try:
        return sha256_hex(value)
    except UnicodeEncodeError:  # a lone surrogate: the parser refuses them in JSON, the CLI's files could hold one
        return ExclusionReason.INVALID_IDENTITY


def _email_sha256(raw: str) -> RecordOrExclusion:
    value = raw.strip().lower()
    if is_placeholder(value):
        return ExclusionReason.PLACEHOLDER_IDENTITY
    return value if _SHA256_HEX.match(value) else ExclusionReason.INVALID_IDENTITY


def _advertising_id(raw: str) -> RecordOrExclusion:
    value = raw.strip().lower()
    if value in PLACEHOLDER_VALUES:
        return ExclusionReason.PLACEHOLDER_IDENTITY
    if not _UUID.match(value):
        return ExclusionReason.INVALID_IDENTITY
    if len(set(value.replace("-", ""))) == 1:  # the all-zero opt-out id, or any other of one repeated digit
        return ExclusionReason.PLACEHOLDER_IDENTITY
    return sha256_hex(value)


_RECORD_OF: dict[IdentityKind, Callable[[str], RecordOrExclusion]] = {
    IdentityKind.EMAIL: _email,
    IdentityKind.EMAIL_SHA256: _email_sha256,
    IdentityKind.GAID: _advertising_id,
    IdentityKind.IDFA: _advertising_id,
}


def record_function(kind: IdentityKind) -> Callable[[str], RecordOrExclusion]:
    """For one kind: a function from a raw value to its Pinterest record (lowercase SHA-256 hex), or the reason it is
    excluded (``invalid_identity``, ``placeholder_identity``). The transform's hot path looks it up once per namespace
    and creates no object per identity (:func:`normalise` is the typed equivalent)."""
    return _RECORD_OF[kind]


def normalise(kind: IdentityKind, raw: str) -> HashedIdentity | ExcludedIdentity:
    """Normalise, validate and hash one raw value of a known kind."""
    result = _RECORD_OF[kind](raw)
    if type(result) is str:
        return HashedIdentity(kind, result)
    return ExcludedIdentity(result)


def resolve(namespace: str, raw: str, namespaces: Mapping[str, IdentityKind]) -> HashedIdentity | ExcludedIdentity:
    """Map a namespace (case-insensitively) to its kind, then normalise the value."""
    kind = namespaces.get(namespace.lower())
    if kind is None:
        return ExcludedIdentity(ExclusionReason.UNMAPPED_NAMESPACE)
    return normalise(kind, raw)

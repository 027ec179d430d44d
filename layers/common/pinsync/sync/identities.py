"""Identity namespaces, normalisation, validation and hashing.

Every identity that reaches Pinterest is a lowercase SHA-256 hex digest: emails are trimmed and lowercased
before hashing (Pinterest matches on the lowercase address), advertising ids (GAID, IDFA) are trimmed and
lowercased before hashing (Pinterest requires MAIDs to be hashed), and values that arrive already hashed
(``Email_LC_SHA256``) must be 64 hex characters and are passed through lowercased. Plain identifiers never
leave this module.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from pinsync.events import ExclusionReason


class IdentityKind(StrEnum):
    """What a namespace holds, which decides how it is validated and hashed."""

    EMAIL = "email"
    EMAIL_SHA256 = "email_sha256"
    GAID = "gaid"
    IDFA = "idfa"


DEFAULT_NAMESPACES = "Email=email,Email_LC_SHA256=email_sha256,GAID=gaid,IDFA=idfa"

# Deliberately simple: one @, no whitespace, a dot in the domain. Full RFC 5322 validation would accept
# addresses no CDP ever exports and reject nothing Pinterest would match.
_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")
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


def _hash_if(pattern: re.Pattern[str]) -> Callable[[str], str | None]:
    match = pattern.match

    def check(value: str) -> str | None:
        return hashlib.sha256(value.encode("utf-8")).hexdigest() if match(value) else None

    return check


def _pass_if(pattern: re.Pattern[str]) -> Callable[[str], str | None]:
    match = pattern.match

    def check(value: str) -> str | None:
        return value if match(value) else None

    return check


# kind → (normalised value → Pinterest record, or None when invalid). GAID and IDFA are UUID-shaped.
_RECORD_OF: dict[IdentityKind, Callable[[str], str | None]] = {
    IdentityKind.EMAIL: _hash_if(_EMAIL),
    IdentityKind.EMAIL_SHA256: _pass_if(_SHA256_HEX),
    IdentityKind.GAID: _hash_if(_UUID),
    IdentityKind.IDFA: _hash_if(_UUID),
}


def record_function(kind: IdentityKind) -> Callable[[str], str | None]:
    """For one kind: a function from a *normalised* value (stripped, lowercased) to its Pinterest record
    (lowercase SHA-256 hex), or None if the value is invalid. The transform's hot path looks it up once per
    namespace and creates no object per identity (:func:`normalise` is the typed equivalent)."""
    return _RECORD_OF[kind]


def record_of(kind: IdentityKind, raw: str) -> str | None:
    """The Pinterest record for one raw value of a known kind, or None if it is invalid."""
    return _RECORD_OF[kind](raw.strip().lower())


def normalise(kind: IdentityKind, raw: str) -> HashedIdentity | ExcludedIdentity:
    """Normalise, validate and hash one raw value of a known kind."""
    record = record_of(kind, raw)
    if record is None:
        return ExcludedIdentity(ExclusionReason.INVALID_IDENTITY)
    return HashedIdentity(kind, record)


def resolve(namespace: str, raw: str, namespaces: Mapping[str, IdentityKind]) -> HashedIdentity | ExcludedIdentity:
    """Map a namespace (case-insensitively) to its kind, then normalise the value."""
    kind = namespaces.get(namespace.lower())
    if kind is None:
        return ExcludedIdentity(ExclusionReason.UNMAPPED_NAMESPACE)
    return normalise(kind, raw)

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
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

EXCLUDED_INVALID_IDENTITY = "invalid_identity"
EXCLUDED_UNMAPPED_NAMESPACE = "unmapped_namespace"


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


def normalise(kind: IdentityKind, raw: str) -> HashedIdentity | ExcludedIdentity:
    """Normalise, validate and hash one raw value of a known kind."""
    value = raw.strip().lower()
    if kind is IdentityKind.EMAIL:
        if not _EMAIL.match(value):
            return ExcludedIdentity(EXCLUDED_INVALID_IDENTITY)
        return HashedIdentity(kind, sha256_hex(value))
    if kind is IdentityKind.EMAIL_SHA256:
        if not _SHA256_HEX.match(value):
            return ExcludedIdentity(EXCLUDED_INVALID_IDENTITY)
        return HashedIdentity(kind, value)
    if not _UUID.match(value):  # GAID and IDFA are UUID-shaped
        return ExcludedIdentity(EXCLUDED_INVALID_IDENTITY)
    return HashedIdentity(kind, sha256_hex(value))


def resolve(namespace: str, raw: str, namespaces: Mapping[str, IdentityKind]) -> HashedIdentity | ExcludedIdentity:
    """Map a namespace (case-insensitively) to its kind, then normalise the value."""
    kind = namespaces.get(namespace.lower())
    if kind is None:
        return ExcludedIdentity(EXCLUDED_UNMAPPED_NAMESPACE)
    return normalise(kind, raw)

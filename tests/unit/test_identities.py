import pytest
from pinsync.events import ExclusionReason
from pinsync.sync.identities import (
    DEFAULT_NAMESPACES,
    ExcludedIdentity,
    HashedIdentity,
    IdentityKind,
    NamespaceMapError,
    parse_namespace_map,
    resolve,
    sha256_hex,
)

NAMESPACES = parse_namespace_map(DEFAULT_NAMESPACES)
# Computed independently with coreutils: printf 'jane.doe@example.com' | sha256sum
JANE_SHA256 = "86e0b9e56c17cc4d12387e1949b85053fbe73bc3ce5a1188713a9d300cc6133d"
GAID_SHA256 = "d4181bb455a74b3bc8b37c75ac9b2c702eb6b9930bd040b861403b31ca85634d"


def test_sha256_matches_the_published_vector():
    assert sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


@pytest.mark.parametrize("raw", ["jane.doe@example.com", "  Jane.Doe@Example.COM \n", "JANE.DOE@EXAMPLE.COM"])
def test_emails_are_trimmed_lowercased_and_hashed(raw):
    assert resolve("Email", raw, NAMESPACES) == HashedIdentity(IdentityKind.EMAIL, JANE_SHA256)


def test_advertising_ids_are_trimmed_lowercased_and_hashed():
    upper = " 38400000-8CF0-11BD-B23E-10B96E40000D "
    assert resolve("GAID", upper, NAMESPACES) == HashedIdentity(IdentityKind.GAID, GAID_SHA256)
    assert resolve("idfa", upper, NAMESPACES) == HashedIdentity(IdentityKind.IDFA, GAID_SHA256)


def test_hashed_email_is_passed_through_lowercased():
    assert resolve("Email_LC_SHA256", JANE_SHA256.upper(), NAMESPACES) == HashedIdentity(
        IdentityKind.EMAIL_SHA256, JANE_SHA256
    )


@pytest.mark.parametrize("namespace", ["email", "EMAIL", "Email", "eMaIl"])
def test_namespaces_match_case_insensitively(namespace):
    assert isinstance(resolve(namespace, "a@b.co", NAMESPACES), HashedIdentity)


@pytest.mark.parametrize(
    ("namespace", "raw"),
    [
        ("Email", "not-an-email"),
        ("Email", "a@b"),
        ("Email", "a b@c.com"),
        ("Email", "a@b.com,c@d.com"),  # a comma would corrupt Pinterest's comma-separated records
        ("Email", ""),
        ("GAID", "38400000-8cf0-11bd-b23e"),
        ("IDFA", "zz400000-8cf0-11bd-b23e-10b96e40000d"),
        ("Email_LC_SHA256", "abc"),
        ("Email_LC_SHA256", JANE_SHA256[:-1] + "g"),
    ],
)
def test_invalid_values_are_excluded(namespace, raw):
    assert resolve(namespace, raw, NAMESPACES) == ExcludedIdentity(ExclusionReason.INVALID_IDENTITY)


def test_unmapped_namespace_is_excluded():
    assert resolve("ECID", "123", NAMESPACES) == ExcludedIdentity(ExclusionReason.UNMAPPED_NAMESPACE)


def test_namespace_map_is_configurable():
    mapping = parse_namespace_map("workEmail=email, Phone_SHA=email_sha256")
    assert mapping == {"workemail": IdentityKind.EMAIL, "phone_sha": IdentityKind.EMAIL_SHA256}
    assert resolve("WorkEmail", "a@b.co", mapping) == HashedIdentity(IdentityKind.EMAIL, sha256_hex("a@b.co"))
    assert resolve("Email", "a@b.co", mapping) == ExcludedIdentity(ExclusionReason.UNMAPPED_NAMESPACE)


@pytest.mark.parametrize("spec", ["", "Email", "Email=phone", "=email"])
def test_bad_namespace_maps_are_refused(spec):
    with pytest.raises(NamespaceMapError):
        parse_namespace_map(spec)

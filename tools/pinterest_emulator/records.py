"""Parsing and checking of the `records` string of customer-list requests."""

from __future__ import annotations

import re

from .errors import CODE_INVALID_REQUEST, ApiError, invalid_request

# Lowercase email (a pragmatic check, not RFC 5322) or a lowercase hex digest: MD5 (32), SHA-1 (40), SHA-256 (64).
# The lookahead checks the domain once before the dot is looked for: without it, a domain of many dots then a
# character it may not hold backtracks quadratically (as pinsync.sync.identities' rule did).
_EMAIL = re.compile(r"^[^@\s,A-Z]+@(?=[^@\s,A-Z]+$)[^@\s,A-Z]+\.[^@\s,A-Z]+$")
_HEX_DIGEST = re.compile(r"^(?:[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64})$")


def split_records(records: str) -> list[str]:
    """Split the comma-separated string; empty entries (e.g. from a trailing comma) are ignored."""
    return [item for item in records.split(",") if item != ""]


def is_valid_record(record: str) -> bool:
    return bool(_HEX_DIGEST.match(record) or _EMAIL.match(record))


def check_records(records: list[str], max_records: int, poison: frozenset[str]) -> None:
    """Raise a 400 ApiError for a request the emulator refuses. Messages never contain a record value."""
    if len(records) > max_records:
        raise invalid_request(f"too many records in one request ({len(records)} > {max_records})")
    if poison and any(record in poison for record in records):
        # The poison-record fault answers exactly like Pinterest's generic refusal, with no position.
        raise ApiError(400, CODE_INVALID_REQUEST, "Invalid record")
    for position, record in enumerate(records):
        if not is_valid_record(record):
            raise invalid_request(
                f"invalid record at position {position}: expected a lowercase email or a lowercase hex MD5, "
                "SHA-1 or SHA-256 digest"
            )

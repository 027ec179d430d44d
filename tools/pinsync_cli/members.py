"""Member files → contract profiles → SQS message bodies.

Formats:

- `csv`: a header row with any of `email`, `email_sha256`, `gaid`, `idfa` (at least one), and optionally
  `audience_id`, `action` (`add` | `remove`, default add) and `qualified_at` (ISO 8601 with a timezone).
  Header names are matched case-insensitively.
- `jsonl`: one JSON object per line with the same keys (an identity may also be a list of strings).
- `profiles`: one ready-made streaming-export profile (or a JSON array of them) per line, validated with
  :func:`pinsync.sync.contract.parse_body` and sent as they are.

Each member row becomes one profile: `segmentMembership.ups.<audience> = {status: realized|exited,
lastQualificationTime}` plus an `identityMap` with the row's identities. Rejections carry the line number and a
reason, never the offending value (it is personal data).

Packing: a message body is a JSON array of profiles (compact, ASCII-escaped, so byte size = character count) no
larger than the byte budget (:data:`MAX_MESSAGE_BYTES` minus :data:`SAFETY_MARGIN_BYTES`); profiles are added in
file order until the next one would not fit.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from pinsync.sync.contract import ContractError, parse_body
from pinsync.sync.identities import HashedIdentity, IdentityKind, normalise
from pinsync.sync.membership import audience_id_problem

MAX_MESSAGE_BYTES = 262_144  # SQS's classic limit (256 KiB), which every queue accepts
SAFETY_MARGIN_BYTES = 2_048
DEFAULT_BODY_BUDGET = MAX_MESSAGE_BYTES - SAFETY_MARGIN_BYTES

FORMATS = ("csv", "jsonl", "profiles")
ACTIONS = {"add": "realized", "remove": "exited"}

# column → (namespace in the identity map, kind used to validate it)
IDENTITY_COLUMNS: dict[str, tuple[str, IdentityKind]] = {
    "email": ("Email", IdentityKind.EMAIL),
    "email_sha256": ("Email_LC_SHA256", IdentityKind.EMAIL_SHA256),
    "gaid": ("GAID", IdentityKind.GAID),
    "idfa": ("IDFA", IdentityKind.IDFA),
}
OTHER_COLUMNS = ("audience_id", "action", "qualified_at")
KNOWN_COLUMNS = (*IDENTITY_COLUMNS, *OTHER_COLUMNS)

_INVALID_IDENTITY = {
    "email": "invalid email",
    "email_sha256": "invalid email_sha256 (64 hex characters)",
    "gaid": "invalid gaid (UUID)",
    "idfa": "invalid idfa (UUID)",
}


class InputError(ValueError):
    """The file as a whole cannot be read (a usage problem, not a row problem)."""


class RowRejected(ValueError):
    """One row cannot become a profile. `reason` is countable and safe to print."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Rejection:
    line: int
    reason: str  # countable
    detail: str = ""  # where in the row (never a value)

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}" + (f": {self.detail}" if self.detail else "")


@dataclass(frozen=True, slots=True)
class RowOptions:
    """How member rows become profiles."""

    audience: str | None = None
    action: str = "add"
    qualified_at: str = ""  # ISO with Z; default: now
    hash_emails: bool = False

    @staticmethod
    def now() -> str:
        return iso_z(datetime.now(UTC))


def iso_z(moment: datetime) -> str:
    text = moment.astimezone(UTC).isoformat(timespec="seconds")
    return text.replace("+00:00", "Z")


# -- reading --------------------------------------------------------------------------------------------------------

Item = tuple[int, list[dict[str, Any]] | Rejection]
"""(line number, the profiles of the row, or why it was rejected)"""


def read_items(stream: IO[str], fmt: str, options: RowOptions) -> Iterator[Item]:
    """Every data row of `stream` as profiles or a rejection, in file order."""
    if fmt == "csv":
        yield from _read_csv(stream, options)
    elif fmt == "jsonl":
        yield from _read_jsonl(stream, options)
    elif fmt == "profiles":
        yield from _read_profiles(stream)
    else:
        raise InputError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def check_columns(columns: list[str], options: RowOptions) -> list[str]:
    """Validate a CSV header; returns the unknown columns (ignored, worth a warning)."""
    if not any(column in IDENTITY_COLUMNS for column in columns):
        raise InputError(f"the header has no identity column: give at least one of {', '.join(IDENTITY_COLUMNS)}")
    if "audience_id" not in columns and not options.audience:
        raise InputError("the header has no audience_id column: add one or give --audience")
    duplicates = sorted({column for column in columns if columns.count(column) > 1})
    if duplicates:
        raise InputError(f"the header repeats column(s) {', '.join(map(shown_column, duplicates))}")
    return [column for column in columns if column not in KNOWN_COLUMNS]


def shown_column(column: str) -> str:
    """A header cell as it may be printed. One that is itself an identifier is not shown: the file has no header
    row, and its first member was read as one."""
    if any(isinstance(normalise(kind, column), HashedIdentity) for kind in IdentityKind):
        return "(an identifier: is the header row missing?)"
    return column


def _read_csv(stream: IO[str], options: RowOptions) -> Iterator[Item]:
    reader = csv.reader(stream)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as error:
        raise InputError(f"line 1: the header is not valid CSV ({error})") from None
    columns = [column.strip().lower().lstrip("\ufeff") for column in header]
    check_columns(columns, options)
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error:
            yield reader.line_num, Rejection(reader.line_num, "malformed CSV")
            continue
        line = reader.line_num
        if not any(value.strip() for value in values):
            continue  # a blank line
        if len(values) > len(columns):
            yield line, Rejection(line, "more fields than the header")
            continue
        row = dict(zip(columns, values, strict=False))
        yield line, _row_item(line, row, options)


def _read_jsonl(stream: IO[str], options: RowOptions) -> Iterator[Item]:
    for line, text in enumerate(stream, start=1):
        if not text.strip():
            continue
        try:
            document = json.loads(text, object_pairs_hook=_object)
        except _RepeatedKey:
            yield line, Rejection(line, "repeats a key (keys are case-insensitive)")
            continue
        except (json.JSONDecodeError, RecursionError):
            yield line, Rejection(line, "not JSON")
            continue
        if not isinstance(document, dict):
            yield line, Rejection(line, "not a JSON object")
            continue
        row = {str(key).strip().lower(): value for key, value in document.items()}
        yield line, _row_item(line, row, options)


class _RepeatedKey(ValueError):
    pass


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys, matched as CSV headers are (trimmed, any case), are unique: a repeated one would
    silently replace the first (an identity lost)."""
    keys = {key.strip().lower() for key, _ in pairs}
    if len(keys) < len(pairs):
        raise _RepeatedKey
    return dict(pairs)


def _read_profiles(stream: IO[str]) -> Iterator[Item]:
    for line, text in enumerate(stream, start=1):
        if not text.strip():
            continue
        try:
            parse_body(text)
        except ContractError as error:
            yield line, Rejection(line, error.reason, error.detail)
            continue
        # parse_body already refused what the sync function would (lone surrogates included: invalid JSON there)
        document = json.loads(text)
        yield line, document if isinstance(document, list) else [document]


def _row_item(line: int, row: Mapping[str, Any], options: RowOptions) -> list[dict[str, Any]] | Rejection:
    try:
        return [profile_from_row(row, options)]
    except RowRejected as rejected:
        return Rejection(line, rejected.reason)


def profile_from_row(row: Mapping[str, Any], options: RowOptions) -> dict[str, Any]:
    """One member row (lowercased keys) → one streaming-export profile, or :class:`RowRejected`."""
    audience = _text(row.get("audience_id"), "audience_id") or options.audience
    if not audience:
        raise RowRejected("missing audience_id")
    problem = audience_id_problem(audience)  # the sync function's own rule
    if problem is not None:
        # A line break here is usually an unclosed CSV quote that swallowed the rows after it.
        raise RowRejected(f"audience_id {problem}")
    action = (_text(row.get("action"), "action") or options.action).lower()
    status = ACTIONS.get(action)
    if status is None:
        raise RowRejected("unknown action (use add or remove)")
    qualified_at = _qualified_at(row.get("qualified_at")) or options.qualified_at or RowOptions.now()
    identity_map: dict[str, list[dict[str, str]]] = {}
    for column, (namespace, kind) in IDENTITY_COLUMNS.items():
        for value in _identity_values(row.get(column), column):
            try:
                checked = normalise(kind, value)
            except UnicodeEncodeError:  # a lone surrogate from a JSON escape
                raise RowRejected(_INVALID_IDENTITY[column]) from None
            if not isinstance(checked, HashedIdentity):
                raise RowRejected(_INVALID_IDENTITY[column])
            if kind is IdentityKind.EMAIL and options.hash_emails:
                identity_map.setdefault("Email_LC_SHA256", []).append({"id": checked.record})
            else:
                identity_map.setdefault(namespace, []).append({"id": value})
    if not identity_map:
        raise RowRejected("no identity (email, email_sha256, gaid or idfa)")
    return {
        "segmentMembership": {"ups": {audience: {"status": status, "lastQualificationTime": qualified_at}}},
        "identityMap": identity_map,
    }


def _text(value: Any, column: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RowRejected(f"{column} must be a string")
    return value.strip()


def _identity_values(value: Any, column: str) -> list[str]:
    if isinstance(value, list):
        return [text for item in value if (text := _text(item, column))]
    text = _text(value, column)
    return [text] if text else []


def _qualified_at(value: Any) -> str:
    text = _text(value, "qualified_at")
    if not text:
        return ""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise RowRejected("invalid qualified_at (ISO 8601 with a timezone)") from None
    if moment.tzinfo is None:
        raise RowRejected("invalid qualified_at (ISO 8601 with a timezone)")
    try:
        return iso_z(moment)
    except OverflowError:  # year 1 east of UTC, or year 9999 west of it: no such time in UTC
        raise RowRejected("invalid qualified_at (ISO 8601 with a timezone)") from None


# -- packing --------------------------------------------------------------------------------------------------------


def encode_profile(profile: Mapping[str, Any]) -> bytes:
    """Compact JSON, non-ASCII escaped: what goes between the commas of a message body."""
    return json.dumps(profile, separators=(",", ":"), ensure_ascii=True).encode("ascii")


@dataclass(frozen=True, slots=True)
class Message:
    body: bytes
    rows: int  # member rows (file lines) whose profiles it carries
    profiles: int


class Packer:
    """Greedy packing of encoded profiles into JSON-array bodies of at most `budget` bytes."""

    def __init__(self, budget: int = DEFAULT_BODY_BUDGET) -> None:
        if budget < 64:
            raise ValueError("the message budget is too small")
        self.budget = budget
        self._parts: list[bytes] = []
        self._size = 2  # "[" and "]"
        self._rows = 0

    def fits_alone(self, encoded: bytes) -> bool:
        return len(encoded) + 2 <= self.budget

    def add(self, encoded: list[bytes]) -> list[Message]:
        """Add one row's profiles; returns the messages this completed (a row's profiles may straddle two)."""
        done: list[Message] = []
        for part in encoded:
            extra = len(part) + (1 if self._parts else 0)
            if self._parts and self._size + extra > self.budget:
                done.append(self._take())
                extra = len(part)
            self._parts.append(part)
            self._size += extra
        self._rows += 1
        return done

    def flush(self) -> list[Message]:
        return [self._take()] if self._parts else []

    def _take(self) -> Message:
        message = Message(b"[" + b",".join(self._parts) + b"]", rows=self._rows, profiles=len(self._parts))
        self._parts, self._size, self._rows = [], 2, 0
        return message

"""The whole local demo, every output captured: no identifier, no hash of one, no token appears anywhere.

Extends tests/integration/test_local_stack.py::test_demo_prints_the_dataflow_summary_and_leaks_nothing: every
identity in every file of events/ (plain, normalised, and the SHA-256 of both), the tokens and client secret in
the token secret, every token the emulator minted and the ingest door's bearer token, checked against what the
demo printed, the function's log file, the ingest door's access log, stdout/stderr, and every Python log record at
DEBUG.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from local_stack import demo
from local_stack.door import DoorServer, ingest_door
from local_stack.paths import EVENTS
from local_stack.stack import LocalStack, local_stack
from pinsync.tokens import TokenSecret

pytestmark = pytest.mark.slow

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_HEX64 = re.compile(r"\b[0-9A-Fa-f]{64}\b")


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _identity_values(document: Any) -> Iterator[str]:
    if isinstance(document, list):
        for item in document:
            yield from _identity_values(item)
    elif isinstance(document, dict):
        for key, value in document.items():
            if key == "identityMap" and isinstance(value, dict):
                for values in value.values():
                    for entry in values if isinstance(values, list) else []:
                        if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                            yield entry["id"]
            else:
                yield from _identity_values(value)


def identities_in_events() -> set[str]:
    """Every identity in events/ (JSON files by structure; any file also by shape, malformed ones included)."""
    found: set[str] = set()
    for path in EVENTS.rglob("*.json"):
        text = path.read_text(encoding="utf-8")
        found.update(_EMAIL.findall(text) + _UUID.findall(text) + _HEX64.findall(text))
        try:
            document = json.loads(text)
        except ValueError:
            continue
        found.update(_identity_values(document))
        for record in document.get("Records", []) if isinstance(document, dict) else []:
            try:
                found.update(_identity_values(json.loads(record.get("body", ""))))
            except ValueError:
                continue
    return {value for value in found if len(value.strip()) >= 6}


def forbidden_identity_strings(values: set[str]) -> set[str]:
    forbidden: set[str] = set()
    for value in values:
        normalised = value.strip().lower()
        forbidden |= {value.strip(), normalised, _sha(value), _sha(normalised), _sha(value.strip())}
    return {item.lower() for item in forbidden}


@contextmanager
def _capturing_stack(original: Any, seen: dict[str, Any]) -> Iterator[LocalStack]:
    with original as stack:
        seen["stack"] = stack
        try:
            yield stack
        finally:
            secret = stack.client("secretsmanager").get_secret_value(
                SecretId=stack.secret_arn, VersionStage="AWSCURRENT"
            )
            seen["secret"] = TokenSecret.model_validate_json(secret["SecretString"])
            store = stack.emulator.state._tokens
            seen["emulator_tokens"] = set(store.access_tokens) | set(store.refresh_tokens)
            seen["client_secrets"] = {app.client_secret for app in store.apps.values()}


@contextmanager
def _capturing_door(original: Any, seen: dict[str, Any]) -> Iterator[DoorServer | None]:
    with original as door:
        seen["door"] = door
        yield door


def test_the_demo_leaks_no_identifier_hash_or_token(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given every log record of every logger at DEBUG, and the demo's own outputs
    caplog.set_level(logging.DEBUG)
    seen: dict[str, Any] = {}
    original = local_stack
    monkeypatch.setattr(demo, "local_stack", lambda settings=None: _capturing_stack(original(settings), seen))
    original_door = ingest_door
    monkeypatch.setattr(
        demo, "ingest_door", lambda *args, **kwargs: _capturing_door(original_door(*args, **kwargs), seen)
    )
    out = io.StringIO()
    log_path = tmp_path / "demo.log"
    access_log_path = tmp_path / "ingest-access.log"
    # When the whole demo runs
    summary = demo.run_demo(out=out, log_path=log_path, access_log_path=access_log_path)
    captured = capsys.readouterr()
    records = "\n".join(f"{record.name} {record.getMessage()} {record.__dict__!r}" for record in caplog.records)
    access_log = access_log_path.read_text()
    everything = "\n".join(
        [out.getvalue(), log_path.read_text(), access_log, captured.out, captured.err, records]
    ).lower()

    # Then the capture did capture (so an empty pass means nothing)
    assert summary.added > 0 and "dataflow run" in everything and "identitiesadded" in everything
    assert summary.through_door > 0 and access_log.count('"status":200') == summary.through_door
    identities = identities_in_events()
    assert len(identities) >= 8
    secret: TokenSecret = seen["secret"]
    tokens = {
        secret.access_token.get_secret_value(),
        secret.refresh_token.get_secret_value(),
        secret.client_secret.get_secret_value(),
        *seen["emulator_tokens"],
        *seen["client_secrets"],
        seen["door"].credentials.token,
    }
    assert len(seen["emulator_tokens"]) >= 2
    # And none of them, nor their hashes, appears anywhere
    leaked_identities = sorted(value for value in forbidden_identity_strings(identities) if value in everything)
    leaked_tokens = sum(1 for token in tokens if token.lower() in everything)
    assert leaked_identities == []
    assert leaked_tokens == 0  # (the values themselves are not printed in the failure message)

"""The door's shared rules: the bearer header, the token comparison, the secret and the body check."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pinsync.ingest.door import (
    MIN_TOKEN_LENGTH,
    Answers,
    IngestTokenSecret,
    bearer_token,
    is_json_object,
    sqs_accepts,
    token_matches,
)
from pydantic import ValidationError

TOKEN = "a" * 40


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"Bearer {TOKEN}", TOKEN),
        (f"bearer {TOKEN}", TOKEN),
        (f"BEARER   {TOKEN}", TOKEN),
        ("Bearer abc-._~+/==", "abc-._~+/=="),
        (None, None),
        ("", None),
        ("Bearer", None),
        ("Bearer ", None),
        (f"Basic {TOKEN}", None),
        (f"Bearer {TOKEN} extra", None),
        (f"Bearer {TOKEN}\n", None),
        (f" Bearer {TOKEN}", None),
        ("Bearer a=b", None),
        ("Bearer ümlaut", None),
        ("Bearer \u200btoken", None),
    ],
)
def test_bearer_header(header: str | None, expected: str | None) -> None:
    assert bearer_token(header) == expected


@given(st.text(max_size=200))
def test_bearer_never_raises_and_returns_a_part_of_the_header(header: str) -> None:
    token = bearer_token(header)
    assert token is None or (token and header.endswith(token) and " " not in token)


def test_token_comparison() -> None:
    assert token_matches(TOKEN, TOKEN)
    assert not token_matches(TOKEN + "x", TOKEN)
    assert not token_matches("", TOKEN)
    # A secret too short to be the generated one (emptied, mistyped) never lets anyone in, even the same value.
    assert not token_matches("", "")
    short = "s" * (MIN_TOKEN_LENGTH - 1)
    assert not token_matches(short, short)
    assert token_matches("é" * MIN_TOKEN_LENGTH, "é" * MIN_TOKEN_LENGTH)


def test_secret_format_hides_the_token() -> None:
    secret = IngestTokenSecret.model_validate_json(json.dumps({"token": TOKEN, "other": 1}))
    assert secret.token.get_secret_value() == TOKEN
    assert TOKEN not in repr(secret) and TOKEN not in str(secret)
    for bad in ({}, {"token": ""}, {"token": "short"}, {"token": 5}):
        with pytest.raises(ValidationError):
            IngestTokenSecret.model_validate(bad)


@pytest.mark.parametrize(
    ("body", "accepted"),
    [
        (b"{}", True),
        (b'{"identityMap": {}}', True),
        ('{"name": "\u00e9"}'.encode(), True),
        (b"", False),
        (b"null", False),
        (b"[]", False),
        (b'"text"', False),
        (b"42", False),
        (b"{", False),
        (b"not json", False),
        (b"\xff\xfe", False),
        (b"[" * 100_000, False),
    ],
)
def test_body_must_be_one_json_object(body: bytes, accepted: bool) -> None:
    assert is_json_object(body) is accepted


def test_answers_are_json_messages_without_input() -> None:
    statuses = {answer.status for answer in Answers}
    assert statuses == {400, 401, 403, 413, 415, 429, 503}
    # Two 503s the producer retries, told apart by their message (equal values would make one an alias of the other).
    assert [a.name for a in Answers if a.status == 503] == ["QUEUE_UNAVAILABLE", "AUTHORIZER_UNAVAILABLE"]
    assert len({answer.message for answer in Answers}) == len(Answers) == 8
    for answer in Answers:
        assert json.loads(answer.body()) == {"message": answer.message}


@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        ('{"a": "b"}', True),
        ("\t\n\r {}", True),
        ('{"name": "K\u00e4ufer \U0001f6cd\ufe0f \ud7ff \ue000 \ufffd"}', True),
        ("\U0010ffff", True),
        ("\ufffe", False),  # noncharacters SQS refuses (InvalidMessageContents)
        ("\uffff", False),
        ("\x00", False),
        ("\x1f", False),
        ("\x0b", False),
    ],
)
def test_sqs_character_rule(text: str, accepted: bool) -> None:
    assert sqs_accepts(text) is accepted


@given(st.text())
def test_sqs_character_rule_matches_the_documented_ranges(text: str) -> None:
    allowed = all(
        ch in "\t\n\r" or 0x20 <= ord(ch) <= 0xD7FF or 0xE000 <= ord(ch) <= 0xFFFD or ord(ch) >= 0x10000 for ch in text
    )
    assert sqs_accepts(text) is allowed

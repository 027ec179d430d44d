"""Fakes of the rotation ports (:mod:`pinsync.rotation.ports`): Secrets Manager's versions and staging labels (with the
rules moto does not enforce), Pinterest's token endpoint and the account check."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from pinsync.core.errors import VersionConflictError
from pinsync.rotation.model import AWSCURRENT, AWSPENDING, AWSPREVIOUS, SecretDescription, TokenGrant
from pinsync.tokens import TokenSecret
from pydantic import SecretStr

from tests.builders import EPOCH

SECRET = "pinsync/token"
OLD = "11111111-1111-4111-8111-111111111111"
TOKEN = "22222222-2222-4222-8222-222222222222"
DAY = 86_400


def seed(access: str = "pina_old", refresh: str = "pinr_old") -> TokenSecret:
    return TokenSecret(
        client_id="app",
        client_secret=SecretStr("app-secret"),
        access_token=SecretStr(access),
        refresh_token=SecretStr(refresh),
        access_token_expires_at=EPOCH + timedelta(days=3),
        refresh_token_expires_at=EPOCH + timedelta(days=33),
    )


@dataclass
class FakeSecretVersions:
    """Secrets Manager's staging-label rules, including the ones moto does not enforce."""

    values: dict[str, str | None] = field(default_factory=dict)
    stages: dict[str, set[str]] = field(default_factory=dict)
    rotation_enabled: bool = True
    put_failures: list[Exception] = field(default_factory=list)
    hide_pending_once: bool = False
    puts: list[str] = field(default_factory=list)

    @classmethod
    def rotating(cls, current: TokenSecret | str = "") -> FakeSecretVersions:
        value = current.to_secret_string() if isinstance(current, TokenSecret) else current or seed().to_secret_string()
        return cls(values={OLD: value, TOKEN: None}, stages={OLD: {AWSCURRENT}, TOKEN: {AWSPENDING}})

    def describe(self, secret_id: str) -> SecretDescription:
        return SecretDescription(
            self.rotation_enabled, {version: frozenset(stages) for version, stages in self.stages.items()}
        )

    def get_value(self, secret_id: str, *, stage: str, version_id: str | None = None) -> str | None:
        if version_id is None:
            version_id = next((v for v, s in self.stages.items() if stage in s), None)
        if version_id is None or stage not in self.stages.get(version_id, set()):
            return None
        if self.hide_pending_once and stage == AWSPENDING:
            self.hide_pending_once = False
            return None
        return self.values.get(version_id)

    def put_pending(self, secret_id: str, token: str, value: str, *, rotation_token: str | None = None) -> None:
        self.puts.append(token)
        if self.put_failures:
            raise self.put_failures.pop(0)
        existing = self.values.get(token)
        if existing is not None and existing != value:
            raise VersionConflictError("ResourceExistsException")  # what real AWS does; moto accepts it
        for stages in self.stages.values():
            stages.discard(AWSPENDING)
        self.values[token] = value
        self.stages.setdefault(token, set()).add(AWSPENDING)

    def move_current(self, secret_id: str, token: str, from_version: str | None) -> None:
        if from_version is not None:
            self.stages[from_version].discard(AWSCURRENT)
            for stages in self.stages.values():
                stages.discard(AWSPREVIOUS)
            self.stages[from_version].add(AWSPREVIOUS)
        self.stages[token].add(AWSCURRENT)

    def value_at(self, stage: str) -> TokenSecret:
        value = self.get_value(SECRET, stage=stage)
        assert value is not None
        return TokenSecret.model_validate_json(value)


@dataclass
class FakeOAuth:
    failure: Exception | None = None
    calls: list[str] = field(default_factory=list)
    expires_in: int = 30 * DAY
    refresh_token_expires_in: int = 60 * DAY

    def refresh(self, client_id: str, client_secret: str, refresh_token: str) -> TokenGrant:
        self.calls.append(refresh_token)
        if self.failure is not None:
            raise self.failure
        n = len(self.calls)
        return TokenGrant(
            access_token=SecretStr(f"pina_new{n}"),
            refresh_token=SecretStr(f"pinr_new{n}"),
            expires_in=self.expires_in,
            refresh_token_expires_in=self.refresh_token_expires_in,
            scope="ads:read,ads:write",
        )


@dataclass
class FakeAccount:
    failure: Exception | None = None
    checked: list[str] = field(default_factory=list)
    answer: dict[str, object] = field(default_factory=lambda: {"id": "549755885175", "permissions": ["OWNER"]})

    def check(self, access_token: str) -> dict[str, object]:
        self.checked.append(access_token)
        if self.failure is not None:
            raise self.failure
        return self.answer

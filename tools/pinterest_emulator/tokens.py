"""OAuth apps, authorization codes, access tokens and refresh tokens.

Not thread-safe on its own: EmulatorState calls it under its lock. Time comes from the caller (`now`).
Token values are random and never logged.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from .errors import authentication_failed, insufficient_scope, invalid_grant, invalid_request


def parse_scope(scope: str) -> frozenset[str]:
    """Pinterest writes scopes comma-separated (`ads:read,ads:write`); spaces are accepted too."""
    return frozenset(part for part in scope.replace(" ", ",").split(",") if part)


def format_scope(scopes: frozenset[str]) -> str:
    return ",".join(sorted(scopes))


@dataclass
class App:
    client_id: str
    client_secret: str
    # Apps activated after 2025-09-25 always get continuous refresh tokens (spec text of oauth/token).
    always_continuous: bool = False


@dataclass
class AuthCode:
    client_id: str
    redirect_uri: str
    scopes: frozenset[str]
    expires_at: float
    used: bool = False


@dataclass
class AccessToken:
    client_id: str
    scopes: frozenset[str]
    expires_at: float
    revoked: bool = False


@dataclass
class RefreshToken:
    client_id: str
    scopes: frozenset[str]
    expires_at: float
    revoked: bool = False


@dataclass
class TokenStore:
    access_token_ttl: int
    refresh_token_ttl: int
    auth_code_ttl: int
    apps: dict[str, App] = field(default_factory=dict)
    codes: dict[str, AuthCode] = field(default_factory=dict)
    access_tokens: dict[str, AccessToken] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)

    # -- apps -------------------------------------------------------------------------------------------------
    def register_app(self, client_id: str, client_secret: str, always_continuous: bool = False) -> App:
        app = App(client_id, client_secret, always_continuous)
        self.apps[client_id] = app
        return app

    def authenticate_client(self, client_id: str, client_secret: str) -> App:
        app = self.apps.get(client_id)
        if app is None or not secrets.compare_digest(app.client_secret, client_secret):
            raise authentication_failed()
        return app

    # -- authorization code flow ------------------------------------------------------------------------------
    def issue_code(self, client_id: str, redirect_uri: str, scopes: frozenset[str], now: float) -> str:
        if client_id not in self.apps:
            raise invalid_request("unknown client_id")
        code = secrets.token_urlsafe(24)
        self.codes[code] = AuthCode(client_id, redirect_uri, scopes, now + self.auth_code_ttl)
        return code

    def exchange_code(self, app: App, code: str, redirect_uri: str, now: float) -> dict[str, Any]:
        grant = self.codes.get(code)
        if (
            grant is None
            or grant.used
            or grant.client_id != app.client_id
            or grant.redirect_uri != redirect_uri
            or now >= grant.expires_at
        ):
            raise invalid_grant()
        grant.used = True  # single use, even if something below fails
        return self.mint(app.client_id, grant.scopes, now, response_type="authorization_code")

    # -- minting and refreshing -------------------------------------------------------------------------------
    def mint(self, client_id: str, scopes: frozenset[str], now: float, response_type: str) -> dict[str, Any]:
        """Create a new access + refresh token pair and return the token-endpoint response body."""
        refresh = "pinr_" + secrets.token_urlsafe(32)
        self.refresh_tokens[refresh] = RefreshToken(client_id, scopes, now + self.refresh_token_ttl)
        return self._response(client_id, scopes, refresh, now, response_type)

    def refresh(self, app: App, refresh_token: str, continuous: bool, scope: str | None, now: float) -> dict[str, Any]:
        stored = self.refresh_tokens.get(refresh_token)
        if stored is None or stored.revoked or stored.client_id != app.client_id or now >= stored.expires_at:
            raise invalid_grant()
        scopes = stored.scopes
        if scope:
            requested = parse_scope(scope)
            if not requested <= stored.scopes:
                raise invalid_request("scope exceeds the scope granted to the refresh token")
            scopes = requested
        if continuous or app.always_continuous:
            # Continuous refresh: a new 60-day refresh token every time; the old one is revoked at once.
            stored.revoked = True
            new_refresh = "pinr_" + secrets.token_urlsafe(32)
            self.refresh_tokens[new_refresh] = RefreshToken(app.client_id, stored.scopes, now + self.refresh_token_ttl)
            return self._response(app.client_id, scopes, new_refresh, now, "refresh_token")
        # Without continuous refresh only the access token is new. The 5.23 schema for refresh responses
        # (OauthAccessTokenResponseRefresh) requires the refresh_token fields, so the unchanged token is echoed.
        return self._response(app.client_id, scopes, refresh_token, now, "refresh_token")

    def _response(
        self, client_id: str, scopes: frozenset[str], refresh: str, now: float, response_type: str
    ) -> dict[str, Any]:
        access = "pina_" + secrets.token_urlsafe(32)
        self.access_tokens[access] = AccessToken(client_id, scopes, now + self.access_token_ttl)
        refresh_expires_at = int(self.refresh_tokens[refresh].expires_at)
        return {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": self.access_token_ttl,
            "scope": format_scope(scopes),
            "response_type": response_type,
            "refresh_token": refresh,
            "refresh_token_expires_in": max(0, refresh_expires_at - int(now)),
            "refresh_token_expires_at": refresh_expires_at,
        }

    # -- checking bearer tokens -------------------------------------------------------------------------------
    def check_bearer(self, token: str | None, required_scopes: frozenset[str], now: float) -> AccessToken:
        stored = self.access_tokens.get(token) if token else None
        if stored is None or stored.revoked or now >= stored.expires_at:
            raise authentication_failed()
        if not required_scopes <= stored.scopes:
            raise insufficient_scope()
        return stored

    # -- admin ------------------------------------------------------------------------------------------------
    def expire_access_tokens(self, now: float) -> int:
        count = 0
        for token in self.access_tokens.values():
            if token.expires_at > now:
                token.expires_at = now
                count += 1
        return count

    def revoke_refresh_token(self, refresh_token: str) -> bool:
        stored = self.refresh_tokens.get(refresh_token)
        if stored is None or stored.revoked:
            return False
        stored.revoked = True
        return True

    def summary(self, now: float) -> dict[str, Any]:
        """Counts only: token values are secrets and never leave through the admin API."""
        return {
            "apps": sorted(self.apps),
            "access_tokens_active": sum(1 for t in self.access_tokens.values() if not t.revoked and t.expires_at > now),
            "refresh_tokens_active": sum(
                1 for t in self.refresh_tokens.values() if not t.revoked and t.expires_at > now
            ),
        }

"""Helpers for the Pinterest emulator tests: a small client that checks every response against the spec."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from pinterest_emulator import (
    DEFAULT_AD_ACCOUNT_ID,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    EmulatorServer,
    get_spec,
)

AD_ACCOUNT = DEFAULT_AD_ACCOUNT_ID
APP_AUTH = (DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)


def spec_errors(response: requests.Response) -> list[str]:
    """How an emulator response under /v5 deviates from Pinterest's spec (openapi-core response validation)."""
    request = response.request
    assert request.method is not None and request.url is not None
    url = urlsplit(request.url)
    return get_spec().response_errors(
        request.method,
        url.path,
        response.status_code,
        response.content,
        response.headers.get("Content-Type", ""),
        dict(parse_qsl(url.query)),
    )


class Api:
    """Tiny requests-based client for the emulator. Every /v5 response is checked against the spec."""

    def __init__(self, server: EmulatorServer, token: str | None) -> None:
        self.server = server
        self.token = token
        self.session = requests.Session()
        self.responses: list[requests.Response] = []

    def request(
        self, method: str, path: str, token: str | None = None, check: bool = True, **kwargs: Any
    ) -> requests.Response:
        """`check=False` only for requests outside the spec (unknown path or method): nothing to validate against."""
        headers = dict(kwargs.pop("headers", {}))
        bearer = token if token is not None else self.token
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        kwargs.setdefault("timeout", 10)
        response = self.session.request(method, self.server.base_url + path, headers=headers, **kwargs)
        self.responses.append(response)
        if check:
            assert spec_errors(response) == [], f"{method} {path} -> {response.status_code} {response.text}"
        return response

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def token_request(self, data: dict[str, str], auth: tuple[str, str] | None = APP_AUTH) -> requests.Response:
        return self.request("POST", "/oauth/token", token="", data=data, auth=auth)

    # shortcuts for the customer-list and audience endpoints of the default ad account
    def create_list(self, records: str, name: str = "list", **extra: Any) -> requests.Response:
        return self.post(f"/ad_accounts/{AD_ACCOUNT}/customer_lists", json={"name": name, "records": records, **extra})

    def update_list(self, list_id: str, operation: str, records: str) -> requests.Response:
        return self.patch(
            f"/ad_accounts/{AD_ACCOUNT}/customer_lists/{list_id}",
            json={"operation_type": operation, "records": records},
        )

    def create_audience(self, list_id: str, name: str = "audience") -> requests.Response:
        return self.post(
            f"/ad_accounts/{AD_ACCOUNT}/audiences",
            json={"name": name, "audience_type": "CUSTOMER_LIST", "rule": {"customer_list_id": list_id}},
        )


def emails(count: int, prefix: str = "user") -> str:
    return ",".join(f"{prefix}{i}@example.com" for i in range(count))

"""Every request pinsync's Pinterest client sends validates against Pinterest's official OpenAPI description.

The requests are captured at the HTTP boundary (a ``requests`` transport adapter) and validated here with
openapi-core against the vendored spec, independently of the emulator's own validation.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import requests
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest
from pinsync.adapters.pinterest_ads import PinterestClient
from pinsync.adapters.pinterest_oauth import StaticToken
from pinsync.core.deadline import Deadline
from pinsync.core.observability import NO_METRICS
from pinsync.sync.identities import sha256_hex
from pinsync.sync.membership import Operation
from pinterest_emulator import DEFAULT_AD_ACCOUNT_ID, EmulatorServer

SPEC = Path(__file__).resolve().parents[2] / "tools" / "pinterest_emulator" / "spec" / "openapi.json"
PRODUCTION = "https://api.pinterest.com/v5"


@pytest.fixture(scope="module")
def openapi() -> OpenAPI:
    import json

    document = json.loads(SPEC.read_text())
    for operation in (op for path in document["paths"].values() for op in path.values() if isinstance(op, dict)):
        operation.pop("security", None)  # auth is the emulator's business; here we check shapes
    document.pop("security", None)
    return OpenAPI.from_dict(document)


class Recorder(requests.adapters.HTTPAdapter):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        self.sent.append(request.copy())
        return super().send(request, *args, **kwargs)


def test_every_request_of_a_sync_validates_against_the_official_spec(openapi: OpenAPI):
    records = [sha256_hex(f"user{i}@example.com") for i in range(5)]
    with EmulatorServer() as emulator:
        token = emulator.state.mint_tokens()["access_token"]
        session = requests.Session()
        recorder = Recorder()
        session.mount("http://", recorder)
        client = PinterestClient(
            base_url=emulator.base_url,
            ad_account_id=DEFAULT_AD_ACCOUNT_ID,
            tokens=StaticToken(token),
            session=session,
            metrics=NO_METRICS,
            deadline=Deadline(lambda: 60.0),
            rng=random.Random(1),
        )
        assert client.find_customer_list("contract") is None
        list_id = client.create_customer_list("contract", records[:2])
        client.update_customer_list(list_id, Operation.ADD, records[2:])
        client.update_customer_list(list_id, Operation.REMOVE, records[:1])
        assert client.find_audience("contract") is None
        audience_id = client.create_audience("contract", list_id)
        client.get_customer_list(list_id)
        client.get_audience(audience_id)
        client.get_ad_account()
        base_url = emulator.base_url

    assert len(recorder.sent) == 9
    lookups = [sent.url for sent in recorder.sent if sent.method == "GET" and (sent.url or "").split("?")[0].endswith(
        ("/customer_lists", "/audiences"))]  # fmt: skip
    assert len(lookups) == 2 and all("order=ASCENDING" in (url or "") for url in lookups)  # the oldest of a name wins
    for sent in recorder.sent:
        assert sent.url is not None
        sent.url = sent.url.replace(base_url, PRODUCTION)
        openapi.validate_request(RequestsOpenAPIRequest(sent))
        assert sent.headers["Authorization"].startswith("Bearer ")

"""Fixtures for the Pinterest emulator tests: a fresh emulator per test on a free port, with a manual clock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pinterest_emulator import EmulatorConfig, EmulatorServer, ManualClock

from tests.emulator.helpers import Api


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def config() -> EmulatorConfig:
    return EmulatorConfig()


@pytest.fixture
def server(clock: ManualClock, config: EmulatorConfig) -> Iterator[EmulatorServer]:
    emulator = EmulatorServer(config=config, clock=clock, sleep=clock.sleep).start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def tokens(server: EmulatorServer) -> dict[str, Any]:
    return server.state.mint_tokens()


@pytest.fixture
def api(server: EmulatorServer, tokens: dict[str, Any]) -> Api:
    return Api(server, tokens["access_token"])

"""Fixtures that several unit test modules share: the simulator of test_simulator_*.py
(started once per module that uses it), and the webhook receiver of test_sim_webhooks_*.py.
A module's own fixture of the same name (as test_telnyx.py's ``client``) takes its place
there."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.sim_webhooks import Receiver
from tests.support.simulator import API_KEY, AUTH, SimServer


@pytest.fixture(scope="module")
def server() -> Iterator[SimServer]:
    with SimServer(api_key=API_KEY) as srv:
        yield srv


@pytest.fixture
def client(server: SimServer) -> Iterator[httpx.Client]:
    with server.client(headers=AUTH) as c:
        assert c.post("/_sim/reset").json() == {"ok": True}
        yield c


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rec:
        yield rec

"""Fixtures: one simulator subprocess per test module, driven by the real braintree SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import braintree
import pytest

from gateway.braintree_adapter import BraintreeGateway
from gateway.simulator.runner import SimulatorHandle, run_simulator


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorHandle]:
    with run_simulator() as handle:
        yield handle


@pytest.fixture(autouse=True)
def _clean_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "sim" in request.fixturenames:
        sim: SimulatorHandle = request.getfixturevalue("sim")
        if sim.alive():
            sim.reset()


@pytest.fixture
def bt(sim: SimulatorHandle) -> braintree.BraintreeGateway:
    return sim.sdk(timeout=5)


@pytest.fixture(params=["asyncio", "threads"])
def transport(request: pytest.FixtureRequest) -> str:
    """Both ways the adapter can carry the SDK's HTTP must classify faults alike."""
    return str(request.param)


@pytest.fixture
async def adapter(sim: SimulatorHandle, transport: str) -> AsyncIterator[BraintreeGateway]:
    gw = BraintreeGateway(sim.gateway_settings(timeout_seconds=2.0, max_workers=16,
                                               transport=transport))
    yield gw
    await gw.aclose()

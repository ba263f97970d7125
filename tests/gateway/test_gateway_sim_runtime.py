"""Simulator run-time features: auto-settlement, persistence, the ledger CLI, throughput."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import braintree
from gw_helpers import new_key
from typer.testing import CliRunner

from gateway.braintree_adapter import BraintreeGateway
from gateway.cli import sim_app
from gateway.port import Outcome
from gateway.simulator.config import SimulatorConfig
from gateway.simulator.runner import SimulatorHandle, run_simulator
from schemas.money import Money


def test_auto_settle_after_delay(bt: braintree.BraintreeGateway, sim: SimulatorHandle) -> None:
    sim.configure(auto_settle_seconds=0.3)
    t = bt.transaction.sale({"amount": "10.00", "payment_method_nonce": "fake-valid-nonce",
                             "options": {"submit_for_settlement": True}}).transaction
    assert bt.transaction.find(t.id).status == "submitted_for_settlement"
    time.sleep(0.5)
    assert bt.transaction.find(t.id).status == "settled"
    credit = bt.transaction.refund(t.id).transaction
    time.sleep(0.5)
    assert {r["id"]: r["status"] for r in sim.ledger()["refunds"]}[credit.id] == "settled"


def test_state_survives_a_restart(tmp_path: Path) -> None:
    config = SimulatorConfig(persist_file=str(tmp_path / "sim.json"))
    params = {"amount": "10.00", "payment_method_nonce": "fake-valid-nonce",
              "api_request_key": new_key(), "order_id": new_key()}
    with run_simulator(config=config) as first:
        original = first.sdk().transaction.sale(dict(params)).transaction
    with run_simulator(config=config) as second:
        assert second.sdk().transaction.find(original.id).status == "authorized"
        replay = second.sdk().transaction.sale(dict(params))
        assert replay.transaction.id == original.id
        assert len(second.ledger()["transactions"]) == 1
        assert second.ledger()["idempotency_keys"][0]["transaction_id"] == original.id


def test_ledger_cli(bt: braintree.BraintreeGateway, sim: SimulatorHandle) -> None:
    t = bt.transaction.sale({"amount": "3.00", "payment_method_nonce": "fake-valid-nonce",
                             "api_request_key": new_key()}).transaction
    out = CliRunner().invoke(sim_app, ["ledger", "--url", sim.url])
    assert out.exit_code == 0, out.output
    dump = json.loads(out.output)
    assert [x["id"] for x in dump["transactions"]] == [t.id]
    assert set(dump) >= {"transactions", "refunds", "idempotency_keys"}


def test_ledger_never_holds_card_numbers(bt: braintree.BraintreeGateway,
                                         sim: SimulatorHandle) -> None:
    bt.transaction.sale({"amount": "3.00", "credit_card": {
        "number": "4111111111111111", "expiration_date": "12/2030", "cvv": "737"}})
    ledger = sim.ledger()
    assert "4111111111111111" not in json.dumps(ledger)
    # The CVV is three digits, which random numeric ids contain by chance (a network
    # transaction id "321373796362943" once failed a substring check): no field holds it,
    # and no field is named for it.
    keys, values = _leaves(ledger)
    assert "737" not in values
    assert not any("cvv" in k.lower() or "cvc" in k.lower() for k in keys)


def _leaves(data: object) -> tuple[set[str], set[str]]:
    keys: set[str] = set()
    values: set[str] = set()
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            keys.update(str(k) for k in item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif item is not None:
            values.add(str(item))
    return keys, values


def test_runner_stops_the_process() -> None:
    with run_simulator() as handle:
        process = handle.process
        assert handle.alive()
    assert process.poll() is not None


async def test_hundreds_of_concurrent_requests_each_get_their_own_transaction(
        sim: SimulatorHandle) -> None:
    # Correctness under concurrency only: the rate is a benchmark figure (docs/benchmarks.md),
    # not an assertion, because this machine's speed drifts severalfold.
    gw = BraintreeGateway(sim.gateway_settings(max_workers=32))
    try:
        n = 400
        results = await asyncio.gather(*(
            gw.authorize(order_id=f"bench-{i}", amount=Money.of("1.00", "USD"),
                         idempotency_key=new_key(), payment_method_nonce="fake-valid-nonce")
            for i in range(n)))
    finally:
        await gw.aclose()
    assert all(r.outcome is Outcome.APPROVED for r in results)
    assert len(sim.ledger()["transactions"]) == n

"""aiohttp server speaking Braintree's XML gateway API, plus /__sim__/ admin endpoints.

The transaction endpoints live here; customers, vault and client API in `vault_api.py`,
disputes in `dispute_api.py`, admin and testing hooks in `admin_api.py`, the request
plumbing (auth, faults, idempotency, background work) in `plumbing.py`.
"""

from __future__ import annotations

import logging

from aiohttp import web

from gateway.simulator import render
from gateway.simulator.admin_api import AdminEndpoints
from gateway.simulator.config import SimulatorConfig
from gateway.simulator.dispute_api import MAX_DOCUMENT_BYTES, DisputeEndpoints
from gateway.simulator.plumbing import Reply
from gateway.simulator.search import search_transactions
from gateway.simulator.vault_api import VaultEndpoints

log = logging.getLogger("gateway.simulator")


class Simulator(VaultEndpoints, DisputeEndpoints, AdminEndpoints):
    async def create_transaction(self, request: web.Request) -> web.Response:
        params = await self._params(request, "transaction")
        return await self._idempotent(
            request, op="sale", target=None, params=params,
            apply=lambda now: self.ledger.sale(params, now), created=True)

    async def find_transaction(self, request: web.Request) -> web.Response:
        txn = self._txn(request)
        return await self._respond(
            request, lambda: Reply(200, render.encode_transaction(txn, self.ledger)))

    async def submit_for_settlement(self, request: web.Request) -> web.Response:
        txn = self._txn(request)
        params = await self._params(request, "transaction")
        return await self._idempotent(
            request, op="submit_for_settlement", target=txn.id, params=params,
            apply=lambda now: self.ledger.submit_for_settlement(txn, params, now),
            created=False)

    async def submit_for_partial_settlement(self, request: web.Request) -> web.Response:
        txn = self._txn(request)
        params = await self._params(request, "transaction")
        return await self._idempotent(
            request, op="submit_for_partial_settlement", target=txn.id, params=params,
            apply=lambda now: self.ledger.submit_for_partial_settlement(txn, params, now),
            created=True)

    async def void(self, request: web.Request) -> web.Response:
        txn = self._txn(request)
        params = await self._params(request, "transaction")
        return await self._idempotent(
            request, op="void", target=txn.id, params=params,
            apply=lambda now: self.ledger.void(txn, now), created=False)

    async def refund(self, request: web.Request) -> web.Response:
        txn = self._txn(request)
        params = await self._params(request, "transaction")
        return await self._idempotent(
            request, op="refund", target=txn.id, params=params,
            apply=lambda now: self.ledger.refund(txn, params, now), created=True)

    async def settlement(self, request: web.Request) -> web.Response:
        txn = self._txn(request)
        action = request.match_info["action"]

        def work() -> Reply:
            result = self.ledger.settlement(txn, action, self.now())
            if isinstance(result, list):
                return self._errors(result, {})
            return self._txn_reply(result, {}, False)

        return await self._respond(request, work)

    async def search_ids(self, request: web.Request) -> web.Response:
        criteria = await self._params(request, "search")
        return await self._respond(request, lambda: Reply(200, render.search_ids_xml(
            search_transactions(self.ledger.transactions, criteria))))

    async def search(self, request: web.Request) -> web.Response:
        criteria = await self._params(request, "search")

        def work() -> Reply:
            ids = search_transactions(self.ledger.transactions, criteria)
            txns = [self.ledger.transactions[i] for i in ids]
            return Reply(200, render.transactions_xml(txns, self.ledger))

        return await self._respond(request, work)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.middleware],
                              client_max_size=MAX_DOCUMENT_BYTES + 64 * 1024)
        m = "/merchants/{merchant_id}"
        t = m + "/transactions/{txn_id:[A-Za-z0-9_-]+}"
        r = app.router
        r.add_post(m + "/transactions", self.create_transaction)
        r.add_post(m + "/transactions/advanced_search_ids", self.search_ids)
        r.add_post(m + "/transactions/advanced_search", self.search)
        r.add_get(t, self.find_transaction)
        r.add_put(t + "/submit_for_settlement", self.submit_for_settlement)
        r.add_post(t + "/submit_for_partial_settlement", self.submit_for_partial_settlement)
        r.add_put(t + "/void", self.void)
        r.add_post(t + "/refund", self.refund)
        r.add_put(
            t + "/{action:settle|settlement_confirm|settlement_decline|settlement_pending}",
            self.settlement)
        self.add_vault_routes(app)
        self.add_dispute_routes(app)
        self.add_admin_routes(app)
        app.cleanup_ctx.append(self.background)
        return app


def serve(config: SimulatorConfig, host: str = "127.0.0.1", port: int = 8093) -> None:
    """Run the simulator in the foreground until interrupted."""
    sim = Simulator(config)
    log.info("braintree simulator listening on http://%s:%d", host, port)
    web.run_app(sim.app(), host=host, port=port, access_log=None, print=None,
                handle_signals=True, shutdown_timeout=5.0)

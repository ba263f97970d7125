"""/__sim__/ endpoints: health, ledger dump, run-time config, reset, and testing hooks
(run a settlement batch now, move a dispute to the processor's decision)."""

from __future__ import annotations

from aiohttp import web
from pydantic import ValidationError

from gateway.simulator import persistence
from gateway.simulator.config import FaultConfig
from gateway.simulator.plumbing import SimBase


class AdminEndpoints(SimBase):
    async def admin_health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def admin_ledger(self, request: web.Request) -> web.Response:
        self.tick()
        return web.json_response(persistence.dump(self.ledger, self.webhooks.outbox))

    async def admin_webhooks(self, request: web.Request) -> web.Response:
        return web.json_response({"pending": self.webhooks.outbox,
                                  "failed": self.webhooks.failed,
                                  "delivered": self.webhooks.delivered})

    async def admin_get_config(self, request: web.Request) -> web.Response:
        return web.json_response(self.faults.config.model_dump())

    async def admin_set_config(self, request: web.Request) -> web.Response:
        try:
            changes = await request.json()
            merged = {**self.faults.config.model_dump(), **changes}
            self.faults.config = FaultConfig.model_validate(merged)
        except (ValueError, ValidationError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(self.faults.config.model_dump())

    async def admin_reset(self, request: web.Request) -> web.Response:
        self.ledger.reset()
        self.webhooks.outbox.clear()
        self.webhooks.failed.clear()
        self.webhooks.delivered = 0
        self.faults.config = self._initial_faults.model_copy()
        return web.json_response({"ok": True})

    async def admin_settle_batch(self, request: web.Request) -> web.Response:
        """Run the settlement batch now, as Braintree's nightly batch would."""
        moved = self.ledger.run_batch(self.now())
        self.emit_webhooks()
        return web.json_response({"transaction_ids": moved})

    async def admin_move_dispute(self, request: web.Request) -> web.Response:
        dispute = self.ledger.disputes.get(request.match_info["dispute_id"])
        if dispute is None:
            raise web.HTTPNotFound()
        target = request.match_info["status"]
        if not self.ledger.move_dispute(dispute, target, self.now()):
            return web.json_response(
                {"error": f"a {dispute.status} dispute cannot become {target}"}, status=409)
        self.emit_webhooks()
        return web.json_response({"id": dispute.id, "status": dispute.status})

    def add_admin_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/__sim__/health", self.admin_health)
        r.add_get("/__sim__/ledger", self.admin_ledger)
        r.add_get("/__sim__/webhooks", self.admin_webhooks)
        r.add_get("/__sim__/config", self.admin_get_config)
        r.add_post("/__sim__/config", self.admin_set_config)
        r.add_post("/__sim__/reset", self.admin_reset)
        r.add_post("/__sim__/settlement_batch", self.admin_settle_batch)
        r.add_post("/__sim__/disputes/{dispute_id}/{status:under_review|won|lost|expired}",
                   self.admin_move_dispute)

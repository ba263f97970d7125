"""Braintree's dispute API (the SDK's `dispute_gateway.py`) and evidence document uploads
(`document_upload_gateway.py`)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.simulator import render
from gateway.simulator.disputes import EVIDENCE_DOCUMENT
from gateway.simulator.plumbing import Reply, SimBase
from gateway.simulator.records import DisputeRecord
from gateway.simulator.rules import Violation
from gateway.simulator.xmlcodec import Repeated, encode

PAGE_SIZE = 10
# Braintree's document upload limits and errors (849xx).
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
DOCUMENT_TYPES = frozenset({"application/pdf", "image/png", "image/jpeg", "image/jpg"})
_DU = ("document_upload",)
DOCUMENT_KIND_INVALID = Violation("84901", "Kind is invalid.", "kind", _DU)
DOCUMENT_TOO_LARGE = Violation("84902", "File is too large.", "file", _DU)
DOCUMENT_TYPE_INVALID = Violation("84903", "File type is invalid.", "file", _DU)
DOCUMENT_EMPTY = Violation("84906", "File is empty.", "file", _DU)


class DisputeEndpoints(SimBase):
    def _dispute(self, request: web.Request) -> DisputeRecord:
        dispute = self.ledger.disputes.get(request.match_info["dispute_id"])
        if dispute is None:
            raise web.HTTPNotFound()
        return dispute

    def _dispute_errors(self, violations: list[Violation], params: dict[str, Any]) -> Reply:
        return Reply(422, render.errors_xml(violations, params))

    async def find_dispute(self, request: web.Request) -> web.Response:
        dispute = self._dispute(request)
        return await self._respond(
            request, lambda: Reply(200, render.encode_dispute(dispute, self.ledger)))

    async def accept_dispute(self, request: web.Request) -> web.Response:
        dispute = self._dispute(request)

        def work() -> Reply:
            result = self.ledger.accept_dispute(dispute, self.now())
            return self._dispute_errors(result, {}) if isinstance(result, list) else Reply(200)

        return await self._respond(request, work)

    async def finalize_dispute(self, request: web.Request) -> web.Response:
        dispute = self._dispute(request)

        def work() -> Reply:
            result = self.ledger.finalize_dispute(dispute, self.now())
            return self._dispute_errors(result, {}) if isinstance(result, list) else Reply(200)

        return await self._respond(request, work)

    async def add_evidence(self, request: web.Request) -> web.Response:
        dispute = self._dispute(request)
        params = await self._params(request, "evidence")

        def work() -> Reply:
            result = self.ledger.add_evidence(dispute, params, self.now())
            if isinstance(result, list):
                return self._dispute_errors(result, {"evidence": params})
            body = render.dispute_document(dispute, self.ledger)["evidence"]
            evidence = next(e.value for e in body if e.value["id"] == result.id)
            return Reply(201, encode("evidence", evidence))

        return await self._respond(request, work)

    async def remove_evidence(self, request: web.Request) -> web.Response:
        dispute = self._dispute(request)
        evidence_id = request.match_info["evidence_id"]

        def work() -> Reply:
            result = self.ledger.remove_evidence(dispute, evidence_id, self.now())
            if result is False:
                raise web.HTTPNotFound()
            return self._dispute_errors(result, {}) if isinstance(result, list) else Reply(200)

        return await self._respond(request, work)

    async def search_disputes(self, request: web.Request) -> web.Response:
        criteria = await self._params(request, "search")
        page = max(1, int(request.query.get("page", "1") or 1))

        def work() -> Reply:
            found = self.ledger.search_disputes(criteria)
            chunk = found[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
            return Reply(200, encode("disputes", {
                "current_page_number": page, "page_size": PAGE_SIZE,
                "total_items": len(found),
                "dispute": Repeated([render.dispute_document(d, self.ledger) for d in chunk]),
            }))

        return await self._respond(request, work)

    async def upload_document(self, request: web.Request) -> web.Response:
        form = await request.post()
        kind = str(form.get("document_upload[kind]") or "")
        upload = form.get("file")
        if not isinstance(upload, web.FileField):
            return self._xml(Reply(422, render.errors_xml([DOCUMENT_EMPTY], {})))
        content = upload.file.read(MAX_DOCUMENT_BYTES + 1)
        content_type = (upload.content_type or "").lower()
        problems = [v for v, bad in (
            (DOCUMENT_KIND_INVALID, kind != EVIDENCE_DOCUMENT),
            (DOCUMENT_EMPTY, not content),
            (DOCUMENT_TOO_LARGE, len(content) > MAX_DOCUMENT_BYTES),
            (DOCUMENT_TYPE_INVALID, content_type not in DOCUMENT_TYPES),
        ) if bad]
        if problems:
            return self._xml(Reply(422, render.errors_xml(
                problems, {"document_upload": {"kind": kind}})))
        # Only the name and size are kept: evidence bytes are not the simulator's to store.
        doc = self.ledger.upload_document(kind, content_type, upload.filename, len(content))
        return self._xml(Reply(201, encode("document_upload", {
            "id": doc.id, "kind": doc.kind, "content_type": doc.content_type,
            "name": doc.name, "size": doc.size})))

    def add_dispute_routes(self, app: web.Application) -> None:
        m = "/merchants/{merchant_id}"
        d = m + "/disputes/{dispute_id:[A-Za-z0-9_-]+}"
        r = app.router
        r.add_post(m + "/disputes/advanced_search", self.search_disputes)
        r.add_get(d, self.find_dispute)
        r.add_put(d + "/accept", self.accept_dispute)
        r.add_put(d + "/finalize", self.finalize_dispute)
        r.add_post(d + "/evidence", self.add_evidence)
        r.add_delete(d + "/evidence/{evidence_id}", self.remove_evidence)
        r.add_post(m + "/document_uploads", self.upload_document)

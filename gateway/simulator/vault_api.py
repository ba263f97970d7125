"""Customers and the vault over the XML API; client tokens and the client API that turns
raw card details into a single-use nonce, as Braintree's client SDKs do."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from aiohttp import web

from gateway.simulator import cardinfo, render
from gateway.simulator.plumbing import Reply, SimBase, sanitize
from gateway.simulator.records import iso
from gateway.simulator.rules import Violation
from gateway.simulator.vault import card_details
from gateway.simulator.xmlcodec import encode

CLIENT_TOKEN_VERSIONS = (1, 2, 3)
TOKEN_CUSTOMER_UNKNOWN = Violation(
    "92804", "Customer specified by customer_id does not exist", "customer_id",
    ("client_token",))
TOKEN_VERSION_UNSUPPORTED = Violation(
    "92806", "Unsupported client token version", "version", ("client_token",))
TOKEN_ACCOUNT_UNKNOWN = Violation(
    "92807", "Merchant account does not exist", "merchant_account_id", ("client_token",))


def authorization_fingerprint(private_key: str, data: str) -> str:
    """The client token's authorization fingerprint: its data signed with the private key."""
    sig = hmac.new(private_key.encode(), data.encode(), hashlib.sha256).hexdigest()
    return f"{sig}|{data}"


def fingerprint_merchant(private_key: str, value: str) -> str | None:
    """The merchant a fingerprint was issued for, or None if it is not ours."""
    sig, _, data = value.partition("|")
    expected = hmac.new(private_key.encode(), data.encode(), hashlib.sha256).hexdigest()
    if not data or not hmac.compare_digest(sig, expected):
        return None
    fields = dict(part.split("=", 1) for part in data.split("&") if "=" in part)
    return fields.get("merchant_id")


def client_api_card(nonce: str, d: dict[str, str]) -> dict[str, Any]:
    """The client API's JSON for a tokenized card (camelCase, as the client SDKs read it)."""
    camel = {"prepaid": "prepaid", "healthcare": "healthcare", "debit": "debit",
             "durbin_regulated": "durbinRegulated", "commercial": "commercial",
             "payroll": "payroll", "issuing_bank": "issuingBank",
             "country_of_issuance": "countryOfIssuance", "product_id": "productId"}
    return {
        "type": "CreditCard", "nonce": nonce, "consumed": False,
        "description": f"ending in {d['last_4'][-2:]}", "threeDSecureInfo": None,
        "details": {"bin": d["bin"], "lastTwo": d["last_4"][-2:], "lastFour": d["last_4"],
                    "cardType": d["card_type"], "expirationMonth": d["expiration_month"],
                    "expirationYear": d["expiration_year"]},
        "binData": {camel[k]: d.get(k, cardinfo.UNKNOWN) for k in camel},
    }


class VaultEndpoints(SimBase):
    async def create_customer(self, request: web.Request) -> web.Response:
        params = await self._params(request, "customer")

        def work() -> Reply:
            result = self.ledger.create_customer(params, self.now())
            if isinstance(result, list):
                return Reply(422, render.errors_xml(result, {"customer": sanitize(params)}))
            return Reply(201, render.encode_customer(result, self.ledger))

        return await self._respond(request, work)

    async def find_customer(self, request: web.Request) -> web.Response:
        cust = self.ledger.customers.get(request.match_info["customer_id"])
        if cust is None:
            raise web.HTTPNotFound()
        return await self._respond(
            request, lambda: Reply(200, render.encode_customer(cust, self.ledger)))

    async def delete_customer(self, request: web.Request) -> web.Response:
        if not self.ledger.delete_customer(request.match_info["customer_id"]):
            raise web.HTTPNotFound()
        return await self._respond(request, lambda: Reply(200))

    async def create_payment_method(self, request: web.Request) -> web.Response:
        params = await self._params(request, "payment_method")

        def work() -> Reply:
            result = self.ledger.vault(params, self.now())
            if isinstance(result, list):
                return Reply(422, render.errors_xml(result, {"payment_method": sanitize(params)}))
            return Reply(201, render.encode_payment_method(result, self.ledger))

        return await self._respond(request, work)

    async def find_payment_method(self, request: web.Request) -> web.Response:
        pm = self.ledger.payment_methods.get(request.match_info["token"])
        if pm is None:
            raise web.HTTPNotFound()
        return await self._respond(
            request, lambda: Reply(200, render.encode_payment_method(pm, self.ledger)))

    async def update_payment_method(self, request: web.Request) -> web.Response:
        pm = self.ledger.payment_methods.get(request.match_info["token"])
        if pm is None:
            raise web.HTTPNotFound()
        params = await self._params(request, "payment_method")
        return await self._respond(request, lambda: Reply(200, render.encode_payment_method(
            self.ledger.update_payment_method(pm, params, self.now()), self.ledger)))

    async def delete_payment_method(self, request: web.Request) -> web.Response:
        if not self.ledger.delete_payment_method(request.match_info["token"]):
            raise web.HTTPNotFound()
        return await self._respond(request, lambda: Reply(200))

    # -- client tokens and the client API -------------------------------------------------

    async def client_token(self, request: web.Request) -> web.Response:
        params = await self._params(request, "client_token")
        merchant = request.match_info["merchant_id"]
        base = f"{request.scheme}://{request.host}"

        def work() -> Reply:
            version = int(params.get("version") or 2)
            customer_id = params.get("customer_id")
            account = params.get("merchant_account_id") or self.ledger.default_account
            problems = [v for v, bad in (
                (TOKEN_VERSION_UNSUPPORTED, version not in CLIENT_TOKEN_VERSIONS),
                (TOKEN_CUSTOMER_UNKNOWN,
                 bool(customer_id) and customer_id not in self.ledger.customers),
                (TOKEN_ACCOUNT_UNKNOWN, account not in self.ledger.merchant_accounts),
            ) if bad]
            if problems:
                return Reply(422, render.errors_xml(problems, {"client_token": params}))
            data = f"merchant_id={merchant}&public_key={self.config.public_key}" \
                   f"&created_at={iso(self.now())}"
            if customer_id:
                data += f"&customer_id={customer_id}"
            doc: dict[str, Any] = {
                "version": version,
                "authorizationFingerprint": authorization_fingerprint(
                    self.config.private_key, data),
                "configUrl": f"{base}/merchants/{merchant}/client_api/v1/configuration",
                "clientApiUrl": f"{base}/merchants/{merchant}/client_api",
                "assetsUrl": base, "environment": "sandbox", "merchantId": merchant,
                "merchantAccountId": account, "challenges": [], "paypalEnabled": True,
                "threeDSecureEnabled": False,
            }
            raw = json.dumps(doc)
            value = raw if version == 1 else base64.b64encode(raw.encode()).decode()
            return Reply(201, encode("client_token", {"value": value}))

        return await self._respond(request, work)

    def _client_authorized(self, request: web.Request, body: dict[str, Any]) -> bool:
        value = str(body.get("authorization_fingerprint")
                    or body.get("authorizationFingerprint")
                    or request.query.get("authorization_fingerprint")
                    or request.query.get("authorizationFingerprint") or "")
        header = request.headers.get("Authorization", "")
        if not value and header.startswith("Bearer "):
            value = header[len("Bearer "):]
        merchant = fingerprint_merchant(self.config.private_key, value)
        return merchant is not None and merchant == request.match_info["merchant_id"]

    async def client_api_tokenize_card(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": {"message": "Malformed request"}}, status=400)
        if not isinstance(body, dict) or not self._client_authorized(request, body):
            return web.json_response(
                {"error": {"message": "Authorization fingerprint is invalid"}}, status=401)
        card = body.get("credit_card") or body.get("creditCard") or {}
        details = card_details(card if isinstance(card, dict) else {})
        if isinstance(details, Violation):
            return web.json_response({
                "error": {"message": "Credit card is invalid"},
                "fieldErrors": [{"field": "creditCard", "fieldErrors": [
                    {"field": details.attribute, "code": details.code,
                     "message": details.message}]}],
            }, status=422)
        nonce = self.ledger.tokenize_card(details)
        return web.json_response({"creditCards": [client_api_card(nonce, details)]},
                                 status=201)

    async def client_api_configuration(self, request: web.Request) -> web.Response:
        if not self._client_authorized(request, {}):
            return web.json_response(
                {"error": {"message": "Authorization fingerprint is invalid"}}, status=401)
        merchant = request.match_info["merchant_id"]
        base = f"{request.scheme}://{request.host}"
        return web.json_response({
            "merchantId": merchant, "environment": "sandbox",
            "clientApiUrl": f"{base}/merchants/{merchant}/client_api",
            "challenges": [], "paypalEnabled": True, "threeDSecureEnabled": False,
            "creditCards": {"supportedCardTypes": ["American Express", "Discover", "JCB",
                                                   "MasterCard", "Visa", "Maestro"]},
        })

    def add_vault_routes(self, app: web.Application) -> None:
        m = "/merchants/{merchant_id}"
        r = app.router
        r.add_post(m + "/customers", self.create_customer)
        r.add_get(m + "/customers/{customer_id}", self.find_customer)
        r.add_delete(m + "/customers/{customer_id}", self.delete_customer)
        r.add_post(m + "/payment_methods", self.create_payment_method)
        pm = m + "/payment_methods/any/{token}"
        r.add_get(pm, self.find_payment_method)
        r.add_put(pm, self.update_payment_method)
        r.add_delete(pm, self.delete_payment_method)
        r.add_post(m + "/client_token", self.client_token)
        r.add_post(m + "/client_api/v1/payment_methods/credit_cards",
                   self.client_api_tokenize_card)
        r.add_get(m + "/client_api/v1/configuration", self.client_api_configuration)

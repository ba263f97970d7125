"""Customers, the vault and client-API tokenization (raw card -> single-use nonce)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gateway.simulator import cardinfo, rules
from gateway.simulator.records import (
    CustomerRecord,
    PaymentMethodRecord,
    TokenizedCard,
    iso,
    new_id,
)
from gateway.simulator.rules import Violation
from gateway.simulator.state import LedgerState
from gateway.simulator.testvalues import (
    DISPUTE_CHARGEBACK_CARD,
    NONCES,
    Instrument,
    NonceSpec,
    card_brand,
    luhn_ok,
)


class VaultOps(LedgerState):
    def nonce_spec(self, nonce: str) -> NonceSpec | None:
        return NONCES.get(nonce)

    def _consume_nonce(self, nonce: str | None) -> None:
        """Client-API nonces are single use; the sandbox's fixed test nonces are not."""
        if nonce and nonce in self.nonces:
            self.nonces[nonce].consumed = True

    def tokenize_card(self, details: dict[str, str]) -> str:
        """Store a card's displayable details under a fresh nonce (no number, no CVV)."""
        nonce = "tokencc_" + "_".join(new_id(6) for _ in range(4))
        self.nonces[nonce] = TokenizedCard(details=details)
        return nonce

    def create_customer(self, params: dict[str, Any], now: datetime) -> CustomerRecord | list[
        Violation
    ]:
        cid = params.get("id") or None
        if cid is not None:
            if not all(c.isalnum() or c in "-_" for c in cid) or len(cid) > 36:
                return [rules.CUSTOMER_ID_BAD]
            if cid in self.customers:
                return [rules.CUSTOMER_ID_IN_USE]
        else:
            cid = new_id(9)
        ts = iso(now)
        cust = CustomerRecord(id=cid, email=params.get("email"),
                              first_name=params.get("first_name"),
                              last_name=params.get("last_name"), created_at=ts, updated_at=ts)
        self.customers[cid] = cust
        self.dirty = True
        return cust

    def delete_customer(self, cid: str) -> bool:
        cust = self.customers.pop(cid, None)
        if cust is None:
            return False
        for token in [t for t, pm in self.payment_methods.items() if pm.customer_id == cid]:
            del self.payment_methods[token]
        self.dirty = True
        return True

    def customer_methods(self, cid: str) -> list[PaymentMethodRecord]:
        return [pm for pm in self.payment_methods.values() if pm.customer_id == cid]

    def vault(self, params: dict[str, Any], now: datetime) -> PaymentMethodRecord | list[
        Violation
    ]:
        cid = params.get("customer_id")
        nonce = params.get("payment_method_nonce")
        if not nonce:
            return [rules.PM_NONCE_REQUIRED]
        if not cid:
            return [rules.PM_CUSTOMER_REQUIRED]
        if cid not in self.customers:
            return [rules.PM_CUSTOMER_INVALID]
        tokenized = self.nonces.get(nonce)
        instrument: Instrument
        if tokenized is not None:
            if tokenized.consumed:
                return [rules.PM_NONCE_CONSUMED]
            instrument, details = "credit_card", dict(tokenized.details)
        else:
            spec = self.nonce_spec(nonce)
            if spec is None or spec.force == "luhn_invalid":
                return [rules.PM_NONCE_UNKNOWN]
            if spec.force == "consumed":
                return [rules.PM_NONCE_CONSUMED]
            if not spec.vaultable:
                return [rules.PAYPAL_ONE_TIME]
            instrument, details = spec.instrument, details_from_spec(spec)
            if instrument != "paypal_account":
                details.update(cardinfo.for_nonce(nonce))
        self._consume_nonce(nonce)
        ts = iso(now)
        token = new_id(7)
        while token in self.payment_methods:
            token = new_id(7)
        details.pop("token", None)
        pm = PaymentMethodRecord(token=token, customer_id=cid, instrument=instrument,
                                 details=details, created_at=ts, updated_at=ts)
        details["token"] = token
        self.payment_methods[token] = pm
        cust = self.customers[cid]
        options = params.get("options") or {}
        if cust.default_token is None or options.get("make_default") in (True, "true"):
            cust.default_token = token
        self.dirty = True
        return pm

    def update_payment_method(
        self, pm: PaymentMethodRecord, params: dict[str, Any], now: datetime
    ) -> PaymentMethodRecord:
        options = params.get("options") or {}
        if options.get("make_default") in (True, "true"):
            self.customers[pm.customer_id].default_token = pm.token
        if pm.instrument == "credit_card":
            month, year = expiration(params)
            if month:
                pm.details["expiration_month"] = month
            if year:
                pm.details["expiration_year"] = year
            billing = params.get("billing_address") or {}
            if isinstance(billing, dict) and billing.get("postal_code"):
                pm.details["billing_postal_code"] = str(billing["postal_code"])
        pm.updated_at = iso(now)
        self.dirty = True
        return pm

    def delete_payment_method(self, token: str) -> bool:
        pm = self.payment_methods.pop(token, None)
        if pm is None:
            return False
        cust = self.customers.get(pm.customer_id)
        if cust is not None and cust.default_token == token:
            cust.default_token = None
        self.dirty = True
        return True

    def is_default(self, pm: PaymentMethodRecord) -> bool:
        cust = self.customers.get(pm.customer_id)
        return cust is not None and cust.default_token == pm.token


def details_from_spec(spec: NonceSpec) -> dict[str, str]:
    d: dict[str, str] = {}
    if spec.card_type:
        d["card_type"] = spec.card_type
    if spec.bin:
        d["bin"] = spec.bin
    if spec.last_4:
        d["last_4"] = spec.last_4
    if spec.instrument != "paypal_account":
        d["expiration_month"] = spec.expiration_month
        d["expiration_year"] = spec.expiration_year
    if spec.email:
        d["email"] = spec.email
    d.update(spec.extra)
    return d


def expiration(src: dict[str, Any]) -> tuple[str | None, str | None]:
    month = src.get("expiration_month")
    year = src.get("expiration_year")
    date = src.get("expiration_date")
    if date and "/" in str(date):
        month, year = str(date).split("/", 1)
    if year and len(str(year)) == 2:
        year = "20" + str(year)
    return (str(month).zfill(2) if month else None, str(year) if year else None)


def card_details(card: dict[str, Any]) -> dict[str, str] | Violation:
    """Raw card fields -> what Braintree keeps: BIN, last 4, expiry, BIN data.
    The number and CVV go no further than this function."""
    number = str(card.get("number") or "").replace(" ", "")
    if not luhn_ok(number):
        return rules.CARD_NUMBER_INVALID
    month, year = expiration(card)
    if not month or not year:
        return rules.CARD_EXPIRATION_REQUIRED
    details = {"card_type": card_brand(number), "bin": number[:6], "last_4": number[-4:],
               "expiration_month": month, "expiration_year": year,
               "cardholder_name": str(card.get("cardholder_name") or "")}
    details.update(cardinfo.for_number(number))
    if number == DISPUTE_CHARGEBACK_CARD:
        details["dispute_test"] = "chargeback"
    return details

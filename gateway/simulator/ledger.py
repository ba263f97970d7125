"""The simulator's in-memory state: transactions, customers, vault, idempotency keys.

Operations validate with `rules` and mutate; they never do I/O. The server owns the
clock (passed in as `now`) so tests and auto-settlement stay deterministic.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from gateway.simulator import rules
from gateway.simulator.rules import Violation
from gateway.simulator.testvalues import (
    FAILS_VERIFICATION,
    NONCES,
    Instrument,
    NonceSpec,
    amount_outcome,
    card_brand,
    luhn_ok,
    processor_response,
)

CURRENCY_PLACES = {"JPY": 0, "KRW": 0, "VND": 0, "ISK": 0, "CLP": 0,
                   "KWD": 3, "BHD": 3, "JOD": 3, "OMR": 3, "TND": 3}


def _places(currency: str) -> int:
    return CURRENCY_PLACES.get(currency, 2)


def _new_id(n: int = 8) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(n))


@dataclass(slots=True)
class StatusEvent:
    status: str
    amount: str
    timestamp: str


@dataclass(slots=True)
class TxnRecord:
    id: str
    type: Literal["sale", "credit"]
    status: str
    amount: str
    currency: str
    merchant_account_id: str
    order_id: str | None
    instrument: Instrument
    details: dict[str, str]
    customer_id: str | None
    payment_method_token: str | None
    processor_response_code: str | None
    processor_response_text: str | None
    processor_response_type: str | None
    gateway_rejection_reason: str | None
    authorized_amount: str
    created_at: str
    updated_at: str
    refunded_transaction_id: str | None = None
    refund_ids: list[str] = field(default_factory=list)
    status_history: list[StatusEvent] = field(default_factory=list)
    submitted_at: float | None = None

    @property
    def amount_dec(self) -> Decimal:
        return Decimal(self.amount)

    def set_status(self, status: str, now: datetime) -> None:
        self.status = status
        ts = _iso(now)
        self.updated_at = ts
        self.status_history.append(StatusEvent(status, self.amount, ts))


@dataclass(slots=True)
class CustomerRecord:
    id: str
    email: str | None
    first_name: str | None
    last_name: str | None
    created_at: str
    updated_at: str
    default_token: str | None = None


@dataclass(slots=True)
class PaymentMethodRecord:
    token: str
    customer_id: str
    instrument: Instrument
    details: dict[str, str]
    created_at: str
    updated_at: str


@dataclass(slots=True)
class KeyRecord:
    merchant_id: str
    key: str
    operation: str
    fingerprint: str
    state: Literal["in_flight", "done"]
    transaction_id: str | None
    created_at: str


def _iso(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


Outcome = TxnRecord | list[Violation]


class Ledger:
    def __init__(self, merchant_accounts: dict[str, str], default_account: str) -> None:
        self.merchant_accounts = merchant_accounts
        self.default_account = default_account
        self.transactions: dict[str, TxnRecord] = {}
        self.customers: dict[str, CustomerRecord] = {}
        self.payment_methods: dict[str, PaymentMethodRecord] = {}
        self.keys: dict[tuple[str, str], KeyRecord] = {}
        # Submitted-for-settlement transactions in submission order, for auto-settlement.
        self._awaiting_settlement: dict[str, float] = {}
        self.dirty = False

    # -- transactions -------------------------------------------------------------------

    def _new_txn_id(self) -> str:
        while True:
            tid = _new_id()
            if tid not in self.transactions:
                return tid

    def sale(self, params: dict[str, Any], now: datetime) -> Outcome:
        txn_type = params.get("type", "sale")
        if txn_type != "sale":
            return [rules.TYPE_INVALID]
        account = params.get("merchant_account_id") or self.default_account
        if account not in self.merchant_accounts:
            return [rules.MERCHANT_ACCOUNT_INVALID]
        currency = self.merchant_accounts[account]
        amount = rules.parse_amount(params.get("amount"), _places(currency))
        errors: list[Violation] = []
        if isinstance(amount, Violation):
            errors.append(amount)
        order_id = params.get("order_id") or None
        if order_id is not None and len(order_id) > rules.MAX_ORDER_ID_LENGTH:
            errors.append(rules.ORDER_ID_TOO_LONG)
        resolved = self._resolve_payment_method(params)
        if isinstance(resolved, list):
            errors.extend(resolved)
        if errors or isinstance(amount, Violation) or isinstance(resolved, list):
            return errors
        spec, instrument, details, customer_id, token = resolved

        outcome, code = amount_outcome(amount)
        if spec is not None and spec.force == "processor_declined":
            outcome, code = "processor_declined", spec.force_code or "2000"
        elif spec is not None and spec.force == "failed":
            outcome, code = "failed", spec.force_code or "3000"
        if instrument == "paypal_account" and amount == Decimal("5001.01"):
            outcome, code = "processor_declined", "2038"
        rejection: str | None = None
        if outcome == "gateway_rejected":
            rejection = "application_incomplete"
        if spec is not None and spec.force == "gateway_rejected_fraud":
            outcome, rejection = "gateway_rejected", "fraud"

        if outcome == "gateway_rejected":
            status, code_s, text, rtype = "gateway_rejected", None, None, None
        else:
            status = outcome
            code_s = code
            text, rtype = processor_response(code)
        ts = _iso(now)
        txn = TxnRecord(
            id=self._new_txn_id(), type="sale", status=status, amount=str(amount),
            currency=currency, merchant_account_id=account, order_id=order_id,
            instrument=instrument, details=details, customer_id=customer_id,
            payment_method_token=token, processor_response_code=code_s,
            processor_response_text=text, processor_response_type=rtype,
            gateway_rejection_reason=rejection, authorized_amount=str(amount),
            created_at=ts, updated_at=ts,
        )
        txn.status_history.append(StatusEvent(status, txn.amount, ts))
        self.transactions[txn.id] = txn
        options = params.get("options") or {}
        if status == "authorized" and options.get("submit_for_settlement") in (True, "true"):
            self._submit(txn, None, now)
        self.dirty = True
        return txn

    def _resolve_payment_method(
        self, params: dict[str, Any]
    ) -> tuple[NonceSpec | None, Instrument, dict[str, str], str | None, str | None] | list[
        Violation
    ]:
        nonce = params.get("payment_method_nonce")
        token = params.get("payment_method_token")
        customer_id = params.get("customer_id")
        if customer_id and customer_id not in self.customers:
            return [rules.CUSTOMER_ID_INVALID]
        if nonce:
            spec = NONCES.get(nonce)
            if spec is None:
                return [rules.NONCE_UNKNOWN]
            if spec.force == "consumed":
                return [rules.NONCE_CONSUMED]
            if spec.force == "luhn_invalid":
                return [rules.CARD_NUMBER_INVALID]
            return spec, spec.instrument, details_from_spec(spec), customer_id, None
        if token:
            pm = self.payment_methods.get(token)
            if pm is None:
                return [rules.TOKEN_INVALID]
            return None, pm.instrument, dict(pm.details), pm.customer_id, pm.token
        card = params.get("credit_card")
        if isinstance(card, dict) and card.get("number"):
            number = str(card["number"]).replace(" ", "")
            if not luhn_ok(number):
                return [rules.CARD_NUMBER_INVALID]
            month, year = _expiration(card)
            if not month or not year:
                return [rules.CARD_EXPIRATION_REQUIRED]
            # Only BIN and last 4 are kept: the simulator never stores a PAN or CVV.
            details = {"card_type": card_brand(number), "bin": number[:6],
                       "last_4": number[-4:], "expiration_month": month,
                       "expiration_year": year,
                       "cardholder_name": str(card.get("cardholder_name") or "")}
            return None, "credit_card", details, customer_id, None
        if customer_id:
            cust = self.customers[customer_id]
            if cust.default_token is None or cust.default_token not in self.payment_methods:
                return [rules.CUSTOMER_HAS_NO_PM]
            pm = self.payment_methods[cust.default_token]
            return None, pm.instrument, dict(pm.details), customer_id, pm.token
        return [rules.CANNOT_DETERMINE_PM]

    def _submit(self, txn: TxnRecord, amount: Decimal | None, now: datetime) -> None:
        if amount is not None:
            txn.amount = str(amount)
        txn.set_status("submitted_for_settlement", now)
        txn.submitted_at = now.timestamp()
        self._awaiting_settlement[txn.id] = txn.submitted_at

    def submit_for_settlement(
        self, txn: TxnRecord, params: dict[str, Any], now: datetime
    ) -> Outcome:
        raw = params.get("amount")
        amount: Decimal | None = None
        if raw not in (None, ""):
            parsed = rules.parse_amount(raw, _places(txn.currency))
            if isinstance(parsed, Violation):
                return [parsed]
            amount = parsed
        if txn.type == "credit":
            return [rules.CANNOT_SUBMIT]
        violation = rules.check_capture(txn.status, txn.amount_dec, amount)
        if violation:
            return [violation]
        if params.get("order_id"):
            txn.order_id = params["order_id"]
        self._submit(txn, amount, now)
        self.dirty = True
        return txn

    def void(self, txn: TxnRecord, now: datetime) -> Outcome:
        violation = rules.check_void(txn.status, txn.instrument)
        if violation:
            return [violation]
        txn.set_status("voided", now)
        self._awaiting_settlement.pop(txn.id, None)
        self.dirty = True
        return txn

    def refund(self, txn: TxnRecord, params: dict[str, Any], now: datetime) -> Outcome:
        raw = params.get("amount")
        amount: Decimal | None = None
        if raw not in (None, ""):
            parsed = rules.parse_amount(raw, _places(txn.currency))
            if isinstance(parsed, Violation):
                return [parsed]
            amount = parsed
        existing = [(self.transactions[r].amount_dec, self.transactions[r].status)
                    for r in txn.refund_ids if r in self.transactions]
        balance = rules.refundable_balance(txn.amount_dec, existing)
        violation = rules.check_refund(txn.type, txn.status, balance, amount)
        if violation:
            return [violation]
        refund_amount = amount if amount is not None else balance
        ts = _iso(now)
        credit = TxnRecord(
            id=self._new_txn_id(), type="credit", status="submitted_for_settlement",
            amount=str(refund_amount), currency=txn.currency,
            merchant_account_id=txn.merchant_account_id,
            order_id=params.get("order_id") or txn.order_id, instrument=txn.instrument,
            details=dict(txn.details), customer_id=txn.customer_id,
            payment_method_token=txn.payment_method_token,
            processor_response_code="1002", processor_response_text="Processed",
            processor_response_type="approved", gateway_rejection_reason=None,
            authorized_amount=str(refund_amount), created_at=ts, updated_at=ts,
            refunded_transaction_id=txn.id,
        )
        credit.status_history.append(StatusEvent(credit.status, credit.amount, ts))
        credit.submitted_at = now.timestamp()
        self._awaiting_settlement[credit.id] = credit.submitted_at
        self.transactions[credit.id] = credit
        txn.refund_ids.append(credit.id)
        txn.updated_at = ts
        self.dirty = True
        return credit

    def settlement(self, txn: TxnRecord, action: str, now: datetime) -> Outcome:
        target = rules.settlement_target(action, txn.status)
        if isinstance(target, Violation):
            return [target]
        txn.set_status(target, now)
        if target != "settlement_pending":
            self._awaiting_settlement.pop(txn.id, None)
        self.dirty = True
        return txn

    def auto_settle(self, delay: float | None, now: datetime) -> int:
        """Settle everything submitted at least `delay` seconds ago; returns how many."""
        if delay is None or not self._awaiting_settlement:
            return 0
        cutoff = now.timestamp() - delay
        settled = 0
        for tid, at in list(self._awaiting_settlement.items()):
            if at > cutoff:
                break
            del self._awaiting_settlement[tid]
            txn = self.transactions.get(tid)
            if txn is not None and txn.status == "submitted_for_settlement":
                txn.set_status("settled", now)
                settled += 1
        if settled:
            self.dirty = True
        return settled

    def search(self, criteria: dict[str, Any]) -> list[str]:
        def text_match(value: str | None, node: Any) -> bool:
            if not isinstance(node, dict):
                return value == node
            v = value or ""
            checks = {
                "is": lambda x: v == x, "is_not": lambda x: v != x,
                "starts_with": v.startswith, "ends_with": v.endswith,
                "contains": lambda x: x in v,
            }
            return all(checks[k](str(x)) for k, x in node.items() if k in checks)

        def in_list(value: str | None, node: Any) -> bool:
            items = node if isinstance(node, list) else [node]
            return value in [str(i) for i in items]

        matchers: list[tuple[str, Any]] = []
        for name in ("order_id", "id", "customer_id", "payment_method_token"):
            if name in criteria:
                matchers.append((name, lambda t, n=name, c=criteria[name]: text_match(
                    getattr(t, n), c)))
        for name in ("ids", "status", "type", "merchant_account_id"):
            if name in criteria:
                attr = "id" if name == "ids" else name
                matchers.append((name, lambda t, a=attr, c=criteria[name]: in_list(
                    getattr(t, a), c)))
        out = [t for t in self.transactions.values() if all(m(t) for _, m in matchers)]
        out.sort(key=lambda t: t.created_at, reverse=True)
        return [t.id for t in out]

    # -- customers and vault ------------------------------------------------------------

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
            cid = _new_id(9)
        ts = _iso(now)
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
        spec = NONCES.get(nonce)
        if spec is None or spec.force == "luhn_invalid":
            return [rules.PM_NONCE_UNKNOWN]
        if spec.force == "consumed":
            return [rules.PM_NONCE_CONSUMED]
        if not spec.vaultable:
            return [rules.PAYPAL_ONE_TIME]
        ts = _iso(now)
        token = _new_id(7)
        while token in self.payment_methods:
            token = _new_id(7)
        details = details_from_spec(spec)
        details.pop("token", None)
        pm = PaymentMethodRecord(token=token, customer_id=cid, instrument=spec.instrument,
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
            month, year = _expiration(params)
            if month:
                pm.details["expiration_month"] = month
            if year:
                pm.details["expiration_year"] = year
            billing = params.get("billing_address") or {}
            if isinstance(billing, dict) and billing.get("postal_code"):
                pm.details["billing_postal_code"] = str(billing["postal_code"])
        pm.updated_at = _iso(now)
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

    # -- dump / persistence -------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        txns = [asdict(t) for t in self.transactions.values()]
        for t in txns:
            t.pop("submitted_at", None)
        return {
            "transactions": [t for t in txns if t["type"] == "sale"],
            "refunds": [t for t in txns if t["type"] == "credit"],
            "idempotency_keys": [asdict(k) for k in self.keys.values()],
            "customers": [asdict(c) for c in self.customers.values()],
            "payment_methods": [asdict(p) for p in self.payment_methods.values()],
        }

    def save(self, path: str) -> None:
        state = {
            "transactions": [asdict(t) for t in self.transactions.values()],
            "customers": [asdict(c) for c in self.customers.values()],
            "payment_methods": [asdict(p) for p in self.payment_methods.values()],
            # An in-flight key cannot survive a restart: its request died with the process.
            "keys": [asdict(k) for k in self.keys.values() if k.state == "done"],
        }
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(state, fh)
        os.replace(tmp, target)
        self.dirty = False

    def load(self, path: str) -> None:
        if not Path(path).exists():
            return
        state = json.loads(Path(path).read_text())
        for raw in state.get("transactions", []):
            raw["status_history"] = [StatusEvent(**e) for e in raw.get("status_history", [])]
            txn = TxnRecord(**raw)
            self.transactions[txn.id] = txn
            if txn.status == "submitted_for_settlement" and txn.submitted_at is not None:
                self._awaiting_settlement[txn.id] = txn.submitted_at
        self._awaiting_settlement = dict(
            sorted(self._awaiting_settlement.items(), key=lambda kv: kv[1]))
        for raw in state.get("customers", []):
            self.customers[raw["id"]] = CustomerRecord(**raw)
        for raw in state.get("payment_methods", []):
            self.payment_methods[raw["token"]] = PaymentMethodRecord(**raw)
        for raw in state.get("keys", []):
            key = KeyRecord(**raw)
            self.keys[(key.merchant_id, key.key)] = key

    def reset(self) -> None:
        self.transactions.clear()
        self.customers.clear()
        self.payment_methods.clear()
        self.keys.clear()
        self._awaiting_settlement.clear()
        self.dirty = True


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


def _expiration(src: dict[str, Any]) -> tuple[str | None, str | None]:
    month = src.get("expiration_month")
    year = src.get("expiration_year")
    date = src.get("expiration_date")
    if date and "/" in str(date):
        month, year = str(date).split("/", 1)
    if year and len(str(year)) == 2:
        year = "20" + str(year)
    return (str(month).zfill(2) if month else None, str(year) if year else None)


def fails_verification(number: str) -> bool:
    return number in FAILS_VERIFICATION

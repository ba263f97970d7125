"""The simulator's state and its transaction operations: sale, credit, capture, void,
refund, settlement (testing calls and batches).

Operations validate with `rules` and mutate; they never do I/O. The server owns the
clock (passed in as `now`) so tests and batches stay deterministic. Customers and the
vault live in `vault.py`, disputes in `disputes.py`, persistence in `persistence.py`.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from gateway.simulator import cardinfo, rules
from gateway.simulator.disputes import DisputeOps
from gateway.simulator.records import (
    StatusEvent,
    TxnRecord,
    iso,
    new_id,
)
from gateway.simulator.rules import Violation
from gateway.simulator.testvalues import (
    Instrument,
    NonceSpec,
    amount_outcome,
    processor_response,
    settlement_outcome,
    settlement_text,
)
from gateway.simulator.vault import VaultOps, card_details, details_from_spec
from schemas.money import minor_units

# A transaction, or the validation errors that refused it.
LedgerResult = TxnRecord | list[Violation]
Resolved = tuple[NonceSpec | None, Instrument, dict[str, str], str | None, str | None]

# The settlement response code each testing endpoint reports.
_TESTING_SETTLEMENT_CODES = {"settled": "4000", "settlement_confirmed": "4000",
                             "settlement_declined": "4001", "settlement_pending": "4002"}


def places(currency: str) -> int:
    return minor_units(currency)


def _network_transaction_id() -> str:
    return "".join(secrets.choice("0123456789") for _ in range(15))


def _auth_code() -> str:
    return "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(6))


class Ledger(VaultOps, DisputeOps):
    def __init__(self, merchant_accounts: dict[str, str], default_account: str) -> None:
        super().__init__()
        self.merchant_accounts = merchant_accounts
        self.default_account = default_account
        # Submitted-for-settlement transactions in submission order, for batches.
        self.awaiting_settlement: dict[str, float] = {}
        self.batch_seq = 0

    # -- transactions -------------------------------------------------------------------

    def _new_txn_id(self) -> str:
        while True:
            tid = new_id()
            if tid not in self.transactions:
                return tid

    def sale(self, params: dict[str, Any], now: datetime) -> LedgerResult:
        txn_type = params.get("type", "sale")
        if txn_type not in ("sale", "credit"):
            return [rules.TYPE_INVALID]
        account = params.get("merchant_account_id") or self.default_account
        if account not in self.merchant_accounts:
            return [rules.MERCHANT_ACCOUNT_INVALID]
        currency = self.merchant_accounts[account]
        amount = rules.parse_gateway_amount(params.get("amount"), places(currency))
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
        self._consume_nonce(params.get("payment_method_nonce"))
        if txn_type == "credit":
            return self._credit(params, amount, account, resolved, now)
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
        ts = iso(now)
        txn = TxnRecord(
            id=self._new_txn_id(), type="sale", status=status, amount=str(amount),
            currency=currency, merchant_account_id=account, order_id=order_id,
            instrument=instrument, details=details, customer_id=customer_id,
            payment_method_token=token, processor_response_code=code_s,
            processor_response_text=text, processor_response_type=rtype,
            gateway_rejection_reason=rejection, authorized_amount=str(amount),
            created_at=ts, updated_at=ts,
        )
        if status == "authorized":
            txn.processor_authorization_code = _auth_code()
            txn.network_transaction_id = _network_transaction_id()
            txn.additional_processor_response = None
        elif status in ("processor_declined", "failed") and code_s and text:
            # What the issuer's network said, as Braintree relays it on soft/hard declines.
            txn.additional_processor_response = f"{code_s} : {text}"
        txn.status_history.append(StatusEvent(status, txn.amount, ts))
        self.transactions[txn.id] = txn
        options = params.get("options") or {}
        if status == "authorized" and options.get("submit_for_settlement") in (True, "true"):
            self._submit(txn, None, now)
        self.dirty = True
        return txn

    def _credit(self, params: dict[str, Any], amount: Decimal, account: str,
                resolved: Resolved, now: datetime) -> TxnRecord:
        """A standalone credit: money to the payment method, submitted for settlement."""
        _spec, instrument, details, customer_id, token = resolved
        ts = iso(now)
        credit = TxnRecord(
            id=self._new_txn_id(), type="credit", status="submitted_for_settlement",
            amount=str(amount), currency=self.merchant_accounts[account],
            merchant_account_id=account, order_id=params.get("order_id") or None,
            instrument=instrument, details=details, customer_id=customer_id,
            payment_method_token=token, processor_response_code="1002",
            processor_response_text="Processed", processor_response_type="approved",
            gateway_rejection_reason=None, authorized_amount=str(amount),
            created_at=ts, updated_at=ts, network_transaction_id=_network_transaction_id(),
        )
        credit.status_history.append(StatusEvent(credit.status, credit.amount, ts))
        self.transactions[credit.id] = credit
        self._await_settlement(credit, now)
        self.dirty = True
        return credit

    def _resolve_payment_method(self, params: dict[str, Any]) -> Resolved | list[Violation]:
        nonce = params.get("payment_method_nonce")
        token = params.get("payment_method_token")
        customer_id = params.get("customer_id")
        if customer_id and customer_id not in self.customers:
            return [rules.CUSTOMER_ID_INVALID]
        if nonce:
            tokenized = self.nonces.get(nonce)
            if tokenized is not None:
                if tokenized.consumed:
                    return [rules.NONCE_CONSUMED]
                return None, "credit_card", dict(tokenized.details), customer_id, None
            spec = self.nonce_spec(nonce)
            if spec is None:
                return [rules.NONCE_UNKNOWN]
            if spec.force == "consumed":
                return [rules.NONCE_CONSUMED]
            if spec.force == "luhn_invalid":
                return [rules.CARD_NUMBER_INVALID]
            details = details_from_spec(spec)
            if spec.instrument != "paypal_account":
                details.update(cardinfo.for_nonce(nonce))
            return spec, spec.instrument, details, customer_id, None
        if token:
            pm = self.payment_methods.get(token)
            if pm is None:
                return [rules.TOKEN_INVALID]
            return None, pm.instrument, dict(pm.details), pm.customer_id, pm.token
        card = params.get("credit_card")
        if isinstance(card, dict) and card.get("number"):
            details_or_error = card_details(card)
            if isinstance(details_or_error, Violation):
                return [details_or_error]
            return None, "credit_card", details_or_error, customer_id, None
        if customer_id:
            cust = self.customers[customer_id]
            if cust.default_token is None or cust.default_token not in self.payment_methods:
                return [rules.CUSTOMER_HAS_NO_PM]
            pm = self.payment_methods[cust.default_token]
            return None, pm.instrument, dict(pm.details), customer_id, pm.token
        return [rules.CANNOT_DETERMINE_PM]

    def _await_settlement(self, txn: TxnRecord, now: datetime) -> None:
        txn.submitted_at = now.timestamp()
        self.awaiting_settlement[txn.id] = txn.submitted_at

    def _submit(self, txn: TxnRecord, amount: Decimal | None, now: datetime) -> None:
        if amount is not None:
            txn.amount = str(amount)
        txn.set_status("submitted_for_settlement", now)
        self._await_settlement(txn, now)

    def submit_for_settlement(
        self, txn: TxnRecord, params: dict[str, Any], now: datetime
    ) -> LedgerResult:
        raw = params.get("amount")
        amount: Decimal | None = None
        if raw not in (None, ""):
            parsed = rules.parse_gateway_amount(raw, places(txn.currency))
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

    def submit_for_partial_settlement(
        self, parent: TxnRecord, params: dict[str, Any], now: datetime
    ) -> LedgerResult:
        """One shipment's capture: a child sale against the authorization, settled and
        refunded on its own; the authorization goes to settlement_pending."""
        amount = rules.parse_gateway_amount(params.get("amount"), places(parent.currency))
        if isinstance(amount, Violation):
            return [amount]
        captured = sum((self.transactions[c].amount_dec
                        for c in parent.partial_settlement_transaction_ids
                        if c in self.transactions), Decimal(0))
        violation = rules.check_partial_capture(
            parent.type, parent.status, bool(parent.partial_settlement_transaction_ids),
            parent.final_captured, Decimal(parent.authorized_amount), captured, amount)
        if violation:
            return [violation]
        ts = iso(now)
        child = _derived(self._new_txn_id(), parent, "sale", amount, params, ts,
                         ("1000", "Approved"),
                         processor_authorization_code=parent.processor_authorization_code,
                         authorized_transaction_id=parent.id)
        child.status_history.append(StatusEvent(child.status, child.amount, ts))
        self.transactions[child.id] = child
        self._await_settlement(child, now)
        parent.partial_settlement_transaction_ids.append(child.id)
        parent.final_captured = params.get("final_capture") in (True, "true")
        if parent.status != "settlement_pending":
            parent.set_status("settlement_pending", now)
        else:
            parent.updated_at = ts
        self.dirty = True
        return child

    def void(self, txn: TxnRecord, now: datetime) -> LedgerResult:
        violation = rules.check_void(txn.status, txn.instrument)
        if violation:
            return [violation]
        txn.set_status("voided", now)
        self.awaiting_settlement.pop(txn.id, None)
        self.dirty = True
        return txn

    def refund(self, txn: TxnRecord, params: dict[str, Any], now: datetime) -> LedgerResult:
        raw = params.get("amount")
        amount: Decimal | None = None
        if raw not in (None, ""):
            parsed = rules.parse_gateway_amount(raw, places(txn.currency))
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
        ts = iso(now)
        credit = _derived(self._new_txn_id(), txn, "credit", refund_amount, params, ts,
                          ("1002", "Processed"), refunded_transaction_id=txn.id)
        credit.details.pop("dispute_test", None)
        credit.status_history.append(StatusEvent(credit.status, credit.amount, ts))
        self._await_settlement(credit, now)
        self.transactions[credit.id] = credit
        txn.refund_ids.append(credit.id)
        txn.updated_at = ts
        self.dirty = True
        return credit

    # -- settlement ---------------------------------------------------------------------

    def _settle(self, txn: TxnRecord, status: str, code: str, now: datetime,
                batch_id: str | None) -> None:
        txn.set_status(status, now)
        txn.processor_settlement_response_code = code
        txn.processor_settlement_response_text = settlement_text(code)
        if status != "settlement_pending":
            self.awaiting_settlement.pop(txn.id, None)
        if status in ("settled", "settlement_confirmed"):
            txn.settlement_batch_id = (
                batch_id or f"{now.date().isoformat()}_{txn.merchant_account_id}")
        if status == "settled":
            self.notify("transaction_settled", "transaction", txn.id, now)
            if txn.type == "sale" and txn.details.get("dispute_test") and not txn.dispute_ids:
                self.open_dispute(txn, now)
        elif status == "settlement_declined":
            self.notify("transaction_settlement_declined", "transaction", txn.id, now)
        self.dirty = True

    def settlement(self, txn: TxnRecord, action: str, now: datetime) -> LedgerResult:
        """The sandbox testing endpoints: force a settlement status."""
        target = rules.settlement_target(action, txn.status)
        if isinstance(target, Violation):
            return [target]
        self._settle(txn, target, _TESTING_SETTLEMENT_CODES[target], now, None)
        return txn

    def run_batch(self, now: datetime, submitted_before: float | None = None) -> list[str]:
        """One settlement batch: every transaction submitted before the cut-off settles (or
        declines, by the sandbox's settlement test amounts). Returns the ids it moved."""
        cutoff = now.timestamp() if submitted_before is None else submitted_before
        due = [tid for tid, at in self.awaiting_settlement.items() if at <= cutoff]
        if not due:
            return []
        self.batch_seq += 1
        moved: list[str] = []
        settled_by_account: dict[str, list[TxnRecord]] = {}
        for tid in due:
            txn = self.transactions.get(tid)
            if txn is None or txn.status not in rules.SETTLEABLE:
                self.awaiting_settlement.pop(tid, None)
                continue
            status, code = settlement_outcome(txn.amount_dec, txn.instrument)
            if status == txn.status:
                continue
            batch_id = f"{now.date().isoformat()}_{txn.merchant_account_id}_{self.batch_seq}"
            self._settle(txn, status, code, now, batch_id)
            moved.append(tid)
            if status == "settled":
                settled_by_account.setdefault(txn.merchant_account_id, []).append(txn)
        for account, txns in settled_by_account.items():
            self._disburse(account, txns, now)
        return moved

    def _disburse(self, account: str, txns: list[TxnRecord], now: datetime) -> None:
        """Braintree pays a batch's net settled amount out to the merchant's bank."""
        day = now.date().isoformat()
        net = sum((t.amount_dec if t.type == "sale" else -t.amount_dec for t in txns),
                  Decimal(0))
        for t in txns:
            t.disbursement_date = day
        self.notify("disbursement", "disbursement", f"{day}_{account}_{self.batch_seq}", now,
                    {"merchant_account_id": account, "amount": str(net),
                     "currency": self.merchant_accounts.get(account, "USD"),
                     "disbursement_date": day,
                     "transaction_ids": ",".join(t.id for t in txns)})

    def auto_settle(self, delay: float | None, now: datetime) -> int:
        """Settle everything submitted at least `delay` seconds ago; returns how many."""
        if delay is None or not self.awaiting_settlement:
            return 0
        return len(self.run_batch(now, now.timestamp() - delay))

    def reset(self) -> None:
        super().reset()
        self.awaiting_settlement.clear()
        self.dirty = True


def _derived(txn_id: str, parent: TxnRecord, kind: Literal["sale", "credit"], amount: Decimal,
             params: dict[str, Any], ts: str, response: tuple[str, str],
             **extra: Any) -> TxnRecord:
    """A transaction made from another (a split capture's part, a refund): same instrument,
    customer and account, submitted for settlement at once."""
    code, text = response
    return TxnRecord(
        id=txn_id, type=kind, status="submitted_for_settlement", amount=str(amount),
        currency=parent.currency, merchant_account_id=parent.merchant_account_id,
        order_id=params.get("order_id") or parent.order_id, instrument=parent.instrument,
        details=dict(parent.details), customer_id=parent.customer_id,
        payment_method_token=parent.payment_method_token, processor_response_code=code,
        processor_response_text=text, processor_response_type="approved",
        gateway_rejection_reason=None, authorized_amount=str(amount), created_at=ts,
        updated_at=ts, network_transaction_id=parent.network_transaction_id, **extra)

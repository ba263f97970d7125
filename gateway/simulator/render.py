"""Records -> the XML documents the SDK parses (`transaction.py`, `credit_card.py`,
`paypal_account.py`, `apple_pay_card.py`, `android_pay_card.py`, `customer.py`)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from gateway.simulator import rules
from gateway.simulator.ledger import (
    CustomerRecord,
    Ledger,
    PaymentMethodRecord,
    TxnRecord,
    parse_iso,
)
from gateway.simulator.rules import Violation
from gateway.simulator.xmlcodec import Collection, Tagged, encode

PM_ROOT = {
    "credit_card": "credit_card",
    "paypal_account": "paypal_account",
    "apple_pay_card": "apple_pay_card",
    "android_pay_card": "android_pay_card",
}
CUSTOMER_LISTS = {
    "credit_card": "credit_cards",
    "paypal_account": "paypal_accounts",
    "apple_pay_card": "apple_pay_cards",
    "android_pay_card": "android_pay_cards",
}
IMAGE_URL = "https://assets.braintreegateway.com/payment_method_logo/unknown.png"


def _instrument_details(
    instrument: str, d: dict[str, str], token: str | None, *, vaulted: bool
) -> dict[str, Any]:
    if instrument == "credit_card":
        out: dict[str, Any] = {
            "token": token, "bin": d.get("bin"), "last_4": d.get("last_4"),
            "card_type": d.get("card_type"), "expiration_month": d.get("expiration_month"),
            "expiration_year": d.get("expiration_year"),
            "cardholder_name": d.get("cardholder_name") or None,
            "customer_location": "US", "image_url": IMAGE_URL,
            "unique_number_identifier": f"sim-{d.get('bin')}-{d.get('last_4')}",
            "expired": False, "prepaid": "Unknown", "debit": "Unknown",
        }
        if vaulted and d.get("billing_postal_code"):
            out["billing_address"] = {"postal_code": d["billing_postal_code"]}
        return out
    if instrument == "paypal_account":
        key = "email" if vaulted else "payer_email"
        out = {"token": token, key: d.get("email"), "payer_id": d.get("payer_id"),
               "image_url": IMAGE_URL}
        if d.get("billing_agreement_id"):
            out["billing_agreement_id"] = d["billing_agreement_id"]
        if not vaulted:
            out["payment_id"] = "PAYID-SIM"
            out["authorization_id"] = "AUTH-SIM"
        return out
    if instrument == "apple_pay_card":
        return {"token": token, "card_type": d.get("card_type"), "last_4": d.get("last_4"),
                "bin": d.get("bin"), "expiration_month": d.get("expiration_month"),
                "expiration_year": d.get("expiration_year"), "expired": False,
                "payment_instrument_name": f"{d.get('card_type')} {d.get('last_4')}",
                "source_description": f"{d.get('card_type')} {d.get('last_4')}",
                "image_url": IMAGE_URL}
    # android_pay_card: the SDK exposes last_4/card_type as properties over these fields.
    return {"token": token, "virtual_card_type": d.get("card_type"),
            "virtual_card_last_4": d.get("last_4"),
            "source_card_type": d.get("source_card_type"),
            "source_card_last_4": d.get("source_card_last_4"),
            "source_description": f"{d.get('source_card_type')} {d.get('source_card_last_4')}",
            "bin": d.get("bin"), "expiration_month": d.get("expiration_month"),
            "expiration_year": d.get("expiration_year"), "expired": False,
            "google_transaction_id": "sim-google-txn", "is_network_tokenized": False,
            "image_url": IMAGE_URL}


TXN_DETAIL_KEY = {
    "credit_card": "credit_card",
    "paypal_account": "paypal",
    "apple_pay_card": "apple_pay",
    "android_pay_card": "android_pay_card",
}


def transaction(t: TxnRecord, ledger: Ledger) -> dict[str, Any]:
    cust = ledger.customers.get(t.customer_id) if t.customer_id else None
    out: dict[str, Any] = {
        "id": t.id, "status": t.status, "type": t.type,
        "currency_iso_code": t.currency, "amount": Decimal(t.amount),
        "merchant_account_id": t.merchant_account_id, "order_id": t.order_id,
        "created_at": parse_iso(t.created_at), "updated_at": parse_iso(t.updated_at),
        "customer": {"id": cust.id if cust else t.customer_id,
                     "email": cust.email if cust else None},
        "processor_response_code": t.processor_response_code,
        "processor_response_text": t.processor_response_text,
        "processor_response_type": t.processor_response_type,
        "additional_processor_response": None,
        "gateway_rejection_reason": t.gateway_rejection_reason,
        "payment_instrument_type": t.instrument,
        "refund_ids": list(t.refund_ids),
        "refunded_transaction_id": t.refunded_transaction_id,
        "settlement_batch_id": (f"{t.updated_at[:10]}_sim_{t.merchant_account_id}"
                                if t.status in ("settled", "settlement_confirmed") else None),
        "status_history": [
            Tagged("status_event", {"status": e.status, "amount": Decimal(e.amount),
                                    "timestamp": parse_iso(e.timestamp),
                                    "transaction_source": "api", "user": "sim"})
            for e in t.status_history
        ],
        "disputes": [],
        "partial_settlement_transaction_ids": [],
    }
    out[TXN_DETAIL_KEY[t.instrument]] = _instrument_details(
        t.instrument, t.details, t.payment_method_token, vaulted=False)
    return out


def payment_method(pm: PaymentMethodRecord, ledger: Ledger) -> tuple[str, dict[str, Any]]:
    body = _instrument_details(pm.instrument, pm.details, pm.token, vaulted=True)
    body.update({"customer_id": pm.customer_id, "default": ledger.is_default(pm),
                 "created_at": parse_iso(pm.created_at), "updated_at": parse_iso(pm.updated_at),
                 "subscriptions": []})
    return PM_ROOT[pm.instrument], body


def customer(c: CustomerRecord, ledger: Ledger) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": c.id, "email": c.email, "first_name": c.first_name, "last_name": c.last_name,
        "created_at": parse_iso(c.created_at), "updated_at": parse_iso(c.updated_at),
        "addresses": [],
    }
    lists: dict[str, list[Any]] = {name: [] for name in CUSTOMER_LISTS.values()}
    for pm in ledger.customer_methods(c.id):
        tag, body = payment_method(pm, ledger)
        lists[CUSTOMER_LISTS[pm.instrument]].append(Tagged(tag, body))
    out.update(lists)
    return out


def transaction_xml(t: TxnRecord, ledger: Ledger, params: dict[str, Any]) -> str:
    """A success document, or the api-error-response Braintree sends for a decline."""
    body = transaction(t, ledger)
    if rules.is_success_status(t.status):
        return encode("transaction", body)
    if t.status == "gateway_rejected":
        message = f"Gateway Rejected: {t.gateway_rejection_reason}"
    else:
        message = t.processor_response_text or "Processor Declined"
    return encode("api_error_response", {
        "errors": {"errors": []}, "params": params, "message": message, "transaction": body,
    })


def errors_xml(violations: Sequence[Violation], params: dict[str, Any]) -> str:
    tree: dict[str, Any] = {"errors": []}
    for v in violations:
        node = tree
        for scope in v.scope:
            node = node.setdefault(scope, {"errors": []})
        node["errors"].append(Tagged("error", {"code": v.code, "attribute": v.attribute,
                                               "message": v.message}))
    return encode("api_error_response", {
        "errors": tree, "params": params,
        "message": "\n".join(v.message for v in violations),
    })


def search_ids_xml(ids: list[str], page_size: int = 50) -> str:
    return encode("search_results", {"page_size": page_size, "ids": ids})


def transactions_xml(txns: list[TxnRecord], ledger: Ledger) -> str:
    return encode("credit_card_transactions", Collection(
        "transaction", [transaction(t, ledger) for t in txns]))


def encode_transaction(t: TxnRecord, ledger: Ledger) -> str:
    return encode("transaction", transaction(t, ledger))


def encode_customer(c: CustomerRecord, ledger: Ledger) -> str:
    return encode("customer", customer(c, ledger))


def encode_payment_method(pm: PaymentMethodRecord, ledger: Ledger) -> str:
    tag, body = payment_method(pm, ledger)
    return encode(tag, body)

"""Records -> the XML documents the SDK parses (`transaction.py`, `credit_card.py`,
`paypal_account.py`, `apple_pay_card.py`, `android_pay_card.py`, `customer.py`,
`dispute.py`), field for field."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from gateway.simulator import cardinfo, rules
from gateway.simulator.ledger import Ledger
from gateway.simulator.records import (
    CustomerRecord,
    DisputeRecord,
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


def graphql_id(kind: str, id_: str) -> str:
    """Braintree's GraphQL id: base64 of "<kind>_<legacy id>"."""
    return base64.b64encode(f"{kind}_{id_}".encode()).decode()


def _bin_data(d: dict[str, str]) -> dict[str, Any]:
    return {name: d.get(name, cardinfo.UNKNOWN) for name in cardinfo.BIN_FIELDS}


def _card_like(d: dict[str, str], token: str | None) -> dict[str, Any]:
    """What every card-like type shares: BIN, last 4, expiry, BIN data."""
    out: dict[str, Any] = {
        "token": token, "bin": d.get("bin"), "last_4": d.get("last_4"),
        "expiration_month": d.get("expiration_month"),
        "expiration_year": d.get("expiration_year"), "expired": False,
        "image_url": IMAGE_URL,
    }
    out.update(_bin_data(d))
    return out


def _instrument_details(
    instrument: str, d: dict[str, str], token: str | None, *, vaulted: bool,
    txn: TxnRecord | None = None,
) -> dict[str, Any]:
    if instrument == "credit_card":
        out = _card_like(d, token)
        out.update({
            "card_type": d.get("card_type"), "cardholder_name": d.get("cardholder_name") or None,
            "customer_location": "US",
            "unique_number_identifier": f"sim-{d.get('bin')}-{d.get('last_4')}",
            "venmo_sdk": False, "account_type": "credit" if d.get("debit") != "Yes" else "debit",
        })
        if vaulted and d.get("billing_postal_code"):
            out["billing_address"] = {"postal_code": d["billing_postal_code"]}
        return out
    if instrument == "paypal_account":
        payer_id = d.get("payer_id")
        if vaulted:
            out = {"token": token, "email": d.get("email"), "payer_id": payer_id,
                   "image_url": IMAGE_URL, "is_channel_initiated": False,
                   "limited_use_order_id": None}
            if d.get("billing_agreement_id"):
                out["billing_agreement_id"] = d["billing_agreement_id"]
            return out
        ref = (txn.id if txn is not None else "SIM").upper()
        captured = txn is not None and txn.status not in ("authorized", "voided",
                                                          "processor_declined", "failed",
                                                          "gateway_rejected")
        out = {"token": token, "payer_email": d.get("email"), "payer_id": payer_id,
               "payer_first_name": "Jane", "payer_last_name": "Doe", "payer_status": "VERIFIED",
               "payment_id": f"PAYID-{ref}", "authorization_id": f"AUTH-{ref}",
               "capture_id": f"CAPT-{ref}" if captured else None,
               "refund_id": f"REFUND-{ref}" if txn is not None and txn.type == "credit" else None,
               "debug_id": f"dbg{ref.lower()}", "seller_protection_status": "ELIGIBLE",
               "transaction_fee_amount": None, "transaction_fee_currency_iso_code": None,
               "image_url": IMAGE_URL}
        if d.get("billing_agreement_id"):
            out["billing_agreement_id"] = d["billing_agreement_id"]
        return out
    if instrument == "apple_pay_card":
        out = _card_like(d, token)
        out.update({"card_type": d.get("card_type"),
                    "payment_instrument_name": f"{d.get('card_type')} {d.get('last_4')}",
                    "source_description": f"{d.get('card_type')} {d.get('last_4')}",
                    "source_card_last4": d.get("last_4"), "is_device_token": True,
                    "cardholder_name": None})
        return out
    # android_pay_card: the SDK exposes last_4/card_type as properties over these fields.
    out = _card_like(d, token)
    del out["last_4"]
    out.update({"virtual_card_type": d.get("card_type"), "virtual_card_last_4": d.get("last_4"),
                "source_card_type": d.get("source_card_type"),
                "source_card_last_4": d.get("source_card_last_4"),
                "source_description":
                    f"{d.get('source_card_type')} {d.get('source_card_last_4')}",
                "google_transaction_id": "sim-google-txn", "is_network_tokenized": False})
    return out


TXN_DETAIL_KEY = {
    "credit_card": "credit_card",
    "paypal_account": "paypal",
    "apple_pay_card": "apple_pay",
    "android_pay_card": "android_pay_card",
}


def transaction(t: TxnRecord, ledger: Ledger, *, with_disputes: bool = True) -> dict[str, Any]:
    cust = ledger.customers.get(t.customer_id) if t.customer_id else None
    card = t.instrument == "credit_card"
    authorized = t.processor_authorization_code is not None
    out: dict[str, Any] = {
        "id": t.id, "graphql_id": graphql_id("transaction", t.id), "status": t.status,
        "type": t.type, "currency_iso_code": t.currency, "amount": Decimal(t.amount),
        "merchant_account_id": t.merchant_account_id, "order_id": t.order_id,
        "created_at": parse_iso(t.created_at), "updated_at": parse_iso(t.updated_at),
        "customer": {"id": cust.id if cust else t.customer_id,
                     "email": cust.email if cust else None,
                     "first_name": cust.first_name if cust else None,
                     "last_name": cust.last_name if cust else None},
        "billing": {"postal_code": t.details.get("billing_postal_code")},
        "processor_response_code": t.processor_response_code,
        "processor_response_text": t.processor_response_text,
        "processor_response_type": t.processor_response_type,
        "additional_processor_response": t.additional_processor_response,
        "processor_authorization_code": t.processor_authorization_code,
        "processor_settlement_response_code": t.processor_settlement_response_code or "",
        "processor_settlement_response_text": t.processor_settlement_response_text or "",
        "network_response_code": "00" if authorized else None,
        "network_response_text": "Successful approval/completion" if authorized else None,
        "network_transaction_id": t.network_transaction_id,
        "retrieval_reference_number": t.id.upper().rjust(12, "0") if authorized else None,
        "avs_error_response_code": None,
        "avs_postal_code_response_code": ("M" if card and t.details.get("billing_postal_code")
                                          else "I"),
        "avs_street_address_response_code": "I",
        "cvv_response_code": "I",
        "gateway_rejection_reason": t.gateway_rejection_reason,
        "payment_instrument_type": t.instrument,
        "refund_id": t.refund_ids[0] if t.refund_ids else None,
        "refund_ids": list(t.refund_ids),
        "refunded_transaction_id": t.refunded_transaction_id,
        "settlement_batch_id": t.settlement_batch_id,
        "authorized_transaction_id": t.authorized_transaction_id,
        "partial_settlement_transaction_ids": list(t.partial_settlement_transaction_ids),
        "recurring": False, "channel": None, "tax_amount": None, "tax_exempt": False,
        "purchase_order_number": None, "plan_id": None, "subscription_id": None,
        "add_ons": [], "discounts": [], "custom_fields": "",
        "descriptor": {"name": None, "phone": None, "url": None},
        "disbursement_details": {
            "disbursement_date": (date.fromisoformat(t.disbursement_date)
                                  if t.disbursement_date else None),
            "settlement_amount": Decimal(t.amount) if t.disbursement_date else None,
            "settlement_currency_iso_code": t.currency if t.disbursement_date else None,
            "settlement_currency_exchange_rate": Decimal(1) if t.disbursement_date else None,
            "funds_held": False if t.disbursement_date else None,
            "success": True if t.disbursement_date else None,
        },
        "status_history": [
            Tagged("status_event", {"status": e.status, "amount": Decimal(e.amount),
                                    "timestamp": parse_iso(e.timestamp),
                                    "transaction_source": "api", "user": "sim"})
            for e in t.status_history
        ],
        "disputes": ([Tagged("dispute", dispute_document(ledger.disputes[d], ledger))
                      for d in t.dispute_ids if d in ledger.disputes]
                     if with_disputes else []),
    }
    out[TXN_DETAIL_KEY[t.instrument]] = _instrument_details(
        t.instrument, t.details, t.payment_method_token, vaulted=False, txn=t)
    return out


def dispute_document(d: DisputeRecord, ledger: Ledger) -> dict[str, Any]:
    """The dispute document (`dispute.py`, `dispute_details/`)."""
    txn = ledger.transactions.get(d.transaction_id)
    return {
        "id": d.id, "graphql_id": graphql_id("dispute", d.id),
        "amount": Decimal(d.amount), "amount_disputed": Decimal(d.amount),
        "amount_won": Decimal(d.amount_won), "case_number": d.case_number,
        "chargeback_protection_level": None, "protection_level": "No Protection",
        "created_at": parse_iso(d.created_at), "updated_at": parse_iso(d.updated_at),
        "currency_iso_code": d.currency, "date_opened": date.fromisoformat(d.received_date),
        "date_won": date.fromisoformat(d.date_won) if d.date_won else None,
        "forwarded_comments": None, "processor_comments": None, "kind": "chargeback",
        "merchant_account_id": d.merchant_account_id, "original_dispute_id": None,
        "pre_dispute_program": "none", "reason": d.reason, "reason_code": d.reason_code,
        "reason_description": d.reason_description,
        "received_date": date.fromisoformat(d.received_date),
        "reference_number": d.reference_number,
        "reply_by_date": date.fromisoformat(d.reply_by_date), "status": d.status,
        "evidence": [Tagged("evidence", {
            "id": e.id, "comments": e.comments, "created_at": parse_iso(e.created_at),
            "sent_to_processor_at": (date.fromisoformat(e.sent_to_processor_at)
                                     if e.sent_to_processor_at else None),
            "url": e.url, "category": e.category, "sequence_number": e.sequence_number})
            for e in d.evidence],
        "paypal_messages": [],
        "status_history": [Tagged("status_history", {
            "status": h.status, "timestamp": parse_iso(h.timestamp),
            "effective_date": date.fromisoformat(h.effective_date),
            "disbursement_date": None}) for h in d.status_history],
        "transaction": {
            "id": d.transaction_id, "amount": Decimal(d.amount),
            "created_at": parse_iso(txn.created_at) if txn else None,
            "order_id": txn.order_id if txn else None, "purchase_order_number": None,
            "payment_instrument_subtype": txn.details.get("card_type") if txn else None,
            "installment_count": None},
    }


def payment_method(pm: PaymentMethodRecord, ledger: Ledger) -> tuple[str, dict[str, Any]]:
    body = _instrument_details(pm.instrument, pm.details, pm.token, vaulted=True)
    body.update({"customer_id": pm.customer_id, "default": ledger.is_default(pm),
                 "graphql_id": graphql_id("paymentmethod", pm.token),
                 "created_at": parse_iso(pm.created_at), "updated_at": parse_iso(pm.updated_at),
                 "subscriptions": []})
    return PM_ROOT[pm.instrument], body


def customer(c: CustomerRecord, ledger: Ledger) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": c.id, "graphql_id": graphql_id("customer", c.id), "email": c.email,
        "first_name": c.first_name, "last_name": c.last_name, "company": None, "phone": None,
        "fax": None, "website": None, "custom_fields": "",
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


def encode_dispute(d: DisputeRecord, ledger: Ledger) -> str:
    return encode("dispute", dispute_document(d, ledger))

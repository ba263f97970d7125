"""Braintree's transaction rules as pure functions: no I/O, no clock, no state.

Each check returns the validation error Braintree would answer with, or None.
Codes and messages follow Braintree's validation-errors reference
(https://developer.paypal.com/braintree/docs/reference/general/validation-errors/all/python).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from gateway.statuses import (
    CAPTURABLE_STATUSES,
    DEAD_REFUND_STATUSES,
    REFUNDABLE_STATUSES,
    SETTLEABLE_STATUSES,
    UNSUCCESSFUL_STATUSES,
    VOIDABLE_PAYPAL_EXTRA_STATUSES,
    VOIDABLE_STATUSES,
)
from schemas.money import MAX_AMOUNT

# Statuses from which each operation is allowed: one home, shared with the adapter and core.
VOIDABLE = VOIDABLE_STATUSES
VOIDABLE_PAYPAL_EXTRA = VOIDABLE_PAYPAL_EXTRA_STATUSES
CAPTURABLE = CAPTURABLE_STATUSES
REFUNDABLE = REFUNDABLE_STATUSES
SETTLEABLE = SETTLEABLE_STATUSES
UNSUCCESSFUL = UNSUCCESSFUL_STATUSES
DEAD_REFUND = DEAD_REFUND_STATUSES

SETTLEMENT_TARGETS: dict[str, str] = {
    "settle": "settled",
    "settlement_confirm": "settlement_confirmed",
    "settlement_decline": "settlement_declined",
    "settlement_pending": "settlement_pending",
}


@dataclass(frozen=True, slots=True)
class Violation:
    code: str
    message: str
    attribute: str = "base"
    # Nesting under the api-error-response <errors>, e.g. ("transaction",).
    scope: tuple[str, ...] = ("transaction",)


# The codes this simulator answers with, in one place for docs and tests.
AMOUNT_REQUIRED = Violation("81502", "Amount is required.", "amount")
AMOUNT_INVALID = Violation("81503", "Amount is an invalid format.", "amount")
AMOUNT_NOT_POSITIVE = Violation("81531", "Amount must be greater than zero.", "amount")
AMOUNT_TOO_LARGE = Violation("81528", "Amount is too large.", "amount")
CANNOT_VOID = Violation(
    "91504",
    "Transaction can only be voided if status is authorized, submitted_for_settlement, "
    "or - for PayPal - settlement_pending.",
)
CANNOT_REFUND_CREDIT = Violation("91505", "Cannot refund a credit.")
CANNOT_REFUND_UNLESS_SETTLED = Violation(
    "91506", "Cannot refund a transaction unless it is settled.")
CANNOT_SUBMIT = Violation(
    "91507", "Cannot submit for settlement unless status is authorized.")
CANNOT_DETERMINE_PM = Violation("91508", "Cannot determine payment method.")
CUSTOMER_ID_INVALID = Violation("91510", "Customer ID is invalid.", "customer_id")
CUSTOMER_HAS_NO_PM = Violation("91511", "Customer does not have any credit cards.",
                               "customer_id")
ALREADY_REFUNDED = Violation("91512", "Transaction has already been fully refunded.")
MERCHANT_ACCOUNT_INVALID = Violation(
    "91513", "Merchant account ID is invalid.", "merchant_account_id")
TOKEN_INVALID = Violation("91518", "Payment method token is invalid.",
                          "payment_method_token")
REFUND_TOO_LARGE = Violation("91521", "Refund amount is too large.", "amount")
SETTLEMENT_TOO_LARGE = Violation("91522", "Settlement amount is too large.", "amount")
TYPE_INVALID = Violation("91523", "Transaction type is invalid.", "type")
NONCE_CONSUMED = Violation("91564", "Cannot use a payment_method_nonce more than once.",
                           "payment_method_nonce")
NONCE_UNKNOWN = Violation("91565", "Unknown payment_method_nonce.", "payment_method_nonce")
CANNOT_SIMULATE_SETTLEMENT = Violation(
    "91575",
    "Cannot transition transaction to settled, settlement_confirmed, or settlement_declined",
)
ORDER_ID_TOO_LONG = Violation("91501", "Order ID is too long.", "order_id")
KEY_TOO_LONG = Violation("915230", "API request key is too long.", "api_request_key")
KEY_REUSED = Violation(
    "915232", "API request key can be reused only with the same request.", "api_request_key")
KEY_IN_FLIGHT = Violation(
    "915233", "API request key is in flight; retry after the original request completes.",
    "api_request_key")
CARD_NUMBER_INVALID = Violation("81715", "Credit card number is invalid.", "number",
                                ("transaction", "credit_card"))
CARD_EXPIRATION_REQUIRED = Violation("81709", "Expiration date is required.",
                                     "expiration_date", ("transaction", "credit_card"))
PM_NONCE_REQUIRED = Violation("93103", "A payment method nonce must be provided.",
                              "payment_method_nonce", ("payment_method",))
PM_CUSTOMER_REQUIRED = Violation("93104", "A customer ID must be provided.", "customer_id",
                                 ("payment_method",))
PM_CUSTOMER_INVALID = Violation("93105", "Customer ID is invalid.", "customer_id",
                                ("payment_method",))
PM_NONCE_CONSUMED = Violation("93107", "Cannot use a payment_method_nonce more than once.",
                              "payment_method_nonce", ("payment_method",))
PM_NONCE_UNKNOWN = Violation("93108", "Unknown or expired payment_method_nonce.",
                             "payment_method_nonce", ("payment_method",))
PAYPAL_ONE_TIME = Violation("82902", "Cannot vault one-time use PayPal Account.", "base",
                            ("paypal_account",))
CUSTOMER_ID_IN_USE = Violation("91609", "Customer ID has been used.", "id", ("customer",))
CUSTOMER_ID_BAD = Violation("91610", "Customer ID is invalid.", "id", ("customer",))

MAX_KEY_LENGTH = 255
MAX_ORDER_ID_LENGTH = 255


def parse_gateway_amount(raw: object, places: int) -> Decimal | Violation:
    """Amount as Braintree validates it: required, decimal, positive, within minor units."""
    if raw is None or raw == "":
        return AMOUNT_REQUIRED
    try:
        amount = Decimal(str(raw).strip())
    except InvalidOperation:
        return AMOUNT_INVALID
    if not amount.is_finite():
        return AMOUNT_INVALID
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places and amount != round(amount, places):
        return AMOUNT_INVALID
    if amount <= 0:
        return AMOUNT_NOT_POSITIVE
    if amount > MAX_AMOUNT:
        return AMOUNT_TOO_LARGE
    return amount.quantize(Decimal(1).scaleb(-places))


def check_void(status: str, instrument: str) -> Violation | None:
    if status in VOIDABLE:
        return None
    if instrument == "paypal_account" and status in VOIDABLE_PAYPAL_EXTRA:
        return None
    return CANNOT_VOID


def check_capture(status: str, authorized: Decimal, amount: Decimal | None) -> Violation | None:
    if status not in CAPTURABLE:
        return CANNOT_SUBMIT
    if amount is not None and amount > authorized:
        return SETTLEMENT_TOO_LARGE
    return None


PARTIALLY_CAPTURABLE = frozenset({"authorized", "settlement_pending"})


def check_partial_capture(
    txn_type: str, status: str, has_children: bool, final_captured: bool,
    authorized: Decimal, captured: Decimal, amount: Decimal,
) -> Violation | None:
    """Braintree's split capture: from an authorization (or one already partly captured,
    which is then settlement_pending), never above what was authorized in total, nothing
    after the final capture."""
    if txn_type != "sale" or status not in PARTIALLY_CAPTURABLE or final_captured:
        return CANNOT_SUBMIT
    if status == "settlement_pending" and not has_children:
        return CANNOT_SUBMIT
    if captured + amount > authorized:
        return SETTLEMENT_TOO_LARGE
    return None


def refundable_balance(amount: Decimal, refunds: list[tuple[Decimal, str]]) -> Decimal:
    """What is left to refund given (amount, status) of the existing refunds."""
    live = sum((a for a, s in refunds if s not in DEAD_REFUND), Decimal(0))
    return amount - live


def check_refund(
    txn_type: str, status: str, balance: Decimal, amount: Decimal | None
) -> Violation | None:
    if txn_type == "credit":
        return CANNOT_REFUND_CREDIT
    if status not in REFUNDABLE:
        return CANNOT_REFUND_UNLESS_SETTLED
    if balance <= 0:
        return ALREADY_REFUNDED
    if amount is not None and amount > balance:
        return REFUND_TOO_LARGE
    return None


def settlement_target(action: str, status: str) -> str | Violation:
    """The status a sandbox testing endpoint moves a transaction to."""
    target = SETTLEMENT_TARGETS[action]
    allowed = SETTLEABLE - {"settlement_pending"} if action == "settlement_pending" else SETTLEABLE
    if status not in allowed:
        return CANNOT_SIMULATE_SETTLEMENT
    return target


def is_success_status(status: str) -> bool:
    return status not in UNSUCCESSFUL


# -- disputes (Braintree's dispute validation errors, 957xx) ------------------------------

DISPUTE_STATUS_KINDS: dict[str, str] = {
    "open": "dispute_opened", "accepted": "dispute_accepted", "disputed": "dispute_disputed",
    "under_review": "dispute_under_review", "won": "dispute_won", "lost": "dispute_lost",
    "expired": "dispute_expired",
}
# Where a dispute may go once the merchant has answered (or failed to), for testing hooks.
DISPUTE_TESTING_MOVES: dict[str, frozenset[str]] = {
    "under_review": frozenset({"open", "disputed"}),
    "won": frozenset({"open", "disputed", "under_review"}),
    "lost": frozenset({"open", "disputed", "under_review"}),
    "expired": frozenset({"open"}),
}

_D = ("dispute",)
DISPUTE_EVIDENCE_NOT_OPEN = Violation(
    "95701", "Evidence can only be attached to disputes that are in an Open state", "status", _D)
DISPUTE_REMOVE_NOT_OPEN = Violation(
    "95702", "Evidence can only be removed from disputes that are in an Open state", "status",
    _D)
DISPUTE_DOCUMENT_INVALID = Violation(
    "95703", "A document with kind other than evidence_document cannot be added to a dispute",
    "document_upload_id", _D)
DISPUTE_ACCEPT_NOT_OPEN = Violation(
    "95704", "Disputes can only be accepted when they are in an Open state", "status", _D)
DISPUTE_FINALIZE_NOT_OPEN = Violation(
    "95705", "Disputes can only be finalized when they are in an Open state", "status", _D)
DISPUTE_CONTENT_TOO_LONG = Violation(
    "95708", "Content must not be longer than 3000 characters", "comments", _D)
DISPUTE_EVIDENCE_REQUIRED = Violation(
    "95726", "Evidence is required to finalize a dispute", "base", _D)
MAX_EVIDENCE_TEXT = 3000


def check_dispute_open(status: str, refusal: Violation) -> Violation | None:
    return None if status == "open" else refusal


def finalized_status(evidence_texts: list[str], winning: str, losing: str) -> str:
    """Sandbox: finalizing with the winning text wins, with the losing text loses;
    otherwise the dispute waits for the processor ("disputed")."""
    if winning in evidence_texts:
        return "won"
    if losing in evidence_texts:
        return "lost"
    return "disputed"


def check_dispute_move(status: str, target: str) -> bool:
    return status in DISPUTE_TESTING_MOVES.get(target, frozenset())

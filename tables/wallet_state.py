"""Wallet snapshots: a pure core over the vaulted payment methods of one customer.

No I/O and no faust here. The wallet agent calls the gateway (the vault is the source of
truth) and folds each answer into the snapshot with these functions; the snapshot is
what the orchestrator reads on the payment path, so it must never need the gateway.

Only display data is kept: the vault token, the method type, card brand, last four,
expiry and a PayPal e-mail. Never a card number, a CVV or a nonce: commands carry the
nonce to the vault and nowhere else (the field is excluded from reprs and dumps).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter

from gateway.port import VaultedPaymentMethod
from schemas.payment_request import PaymentMethodType
from schemas.types import NonEmptyStr, UtcDatetime

# Redelivered commands are recognised by id; a few dozen cover any realistic redelivery
# of one customer's commands without letting the snapshot grow.
MAX_RECENT_COMMANDS: Final = 32
# A wallet is shown in a checkout; more methods than this is abuse, not a shopper.
MAX_METHODS: Final = 50

ExpirationMonth = Annotated[str, StringConstraints(pattern=r"^(0[1-9]|1[0-2])$")]
ExpirationYear = Annotated[str, StringConstraints(pattern=r"^20[0-9]{2}$")]
PostalCode = Annotated[str, StringConstraints(min_length=1, max_length=16,
                                              pattern=r"^[A-Za-z0-9 -]+$")]


class StoredPaymentMethod(BaseModel):
    """One vaulted payment method as the wallet shows it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    token: NonEmptyStr
    type: PaymentMethodType
    is_default: bool = False
    card_brand: str | None = None
    last_4: str | None = None
    expiration_month: str | None = None
    expiration_year: str | None = None
    email: str | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime


class CommandRecord(BaseModel):
    """The reply already given to a command, so a redelivered command is answered again
    instead of being executed twice against the vault."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    command_id: str
    status: int
    body: dict[str, object]


class Wallet(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    customer_id: NonEmptyStr
    methods: tuple[StoredPaymentMethod, ...] = ()
    recent_commands: tuple[CommandRecord, ...] = ()
    created_at: UtcDatetime
    updated_at: UtcDatetime

    def method(self, token: str) -> StoredPaymentMethod | None:
        return next((m for m in self.methods if m.token == token), None)

    @property
    def default_method(self) -> StoredPaymentMethod | None:
        return next((m for m in self.methods if m.is_default), None)

    def reply_for(self, command_id: str) -> CommandRecord | None:
        return next((c for c in self.recent_commands if c.command_id == command_id), None)

    def view(self) -> dict[str, object]:
        """The wallet as the web views serve it (without the command bookkeeping)."""
        return self.model_dump(mode="json", exclude={"recent_commands"})


# ----------------------------------------------------------------------------- commands


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    command_id: NonEmptyStr
    customer_id: NonEmptyStr


class AddMethod(_Command):
    """Vault a client nonce for the customer."""

    op: Literal["add"] = "add"
    # repr=False + exclude: a nonce is a payment credential; it may travel to the vault
    # through the command topic but must never be echoed into a log or a reply.
    nonce: NonEmptyStr = Field(repr=False)
    make_default: bool = False


class UpdateMethod(_Command):
    op: Literal["update"] = "update"
    token: NonEmptyStr
    make_default: bool | None = None
    expiration_month: ExpirationMonth | None = None
    expiration_year: ExpirationYear | None = None
    billing_postal_code: PostalCode | None = None

    @property
    def is_empty(self) -> bool:
        return all(v is None for v in (self.make_default, self.expiration_month,
                                       self.expiration_year, self.billing_postal_code))


class DeleteMethod(_Command):
    op: Literal["delete"] = "delete"
    token: NonEmptyStr


WalletCommand = Annotated[AddMethod | UpdateMethod | DeleteMethod, Field(discriminator="op")]
command_adapter: TypeAdapter[WalletCommand] = TypeAdapter(WalletCommand)


def parse_command(raw: bytes | str) -> WalletCommand:
    return command_adapter.validate_json(raw)


# ---------------------------------------------------------------------------- transitions


def new_wallet(customer_id: str, at: datetime) -> Wallet:
    return Wallet(customer_id=customer_id, created_at=at, updated_at=at)


def put_method(wallet: Wallet | None, customer_id: str, method: StoredPaymentMethod,
               at: datetime) -> Wallet:
    """Add or replace a method (by token). A default method makes every other one
    non-default, as the vault does; the snapshot must agree with it."""
    wallet = wallet or new_wallet(customer_id, at)
    existing = wallet.method(method.token)
    if existing is not None:
        method = method.model_copy(update={"created_at": existing.created_at})
    methods: list[StoredPaymentMethod] = []
    for m in wallet.methods:
        if m.token == method.token:
            methods.append(method)
        elif method.is_default and m.is_default:
            methods.append(m.model_copy(update={"is_default": False}))
        else:
            methods.append(m)
    if existing is None:
        methods.append(method)
    return wallet.model_copy(update={"methods": tuple(methods), "updated_at": at})


def from_vaulted(vaulted: VaultedPaymentMethod, at: datetime) -> StoredPaymentMethod:
    """The wallet's view of a vault answer; timestamps default to now when the vault
    does not report them."""
    return StoredPaymentMethod(
        token=vaulted.token, type=vaulted.type, is_default=vaulted.is_default,
        card_brand=vaulted.card_brand, last_4=vaulted.last_4,
        expiration_month=vaulted.expiration_month, expiration_year=vaulted.expiration_year,
        email=vaulted.email, created_at=vaulted.created_at or at,
        updated_at=vaulted.updated_at or at,
    )


def remove_method(wallet: Wallet, token: str, at: datetime) -> Wallet:
    methods = tuple(m for m in wallet.methods if m.token != token)
    return wallet.model_copy(update={"methods": methods, "updated_at": at})


def record_reply(wallet: Wallet, command_id: str, status: int,
                 body: dict[str, object]) -> Wallet:
    record = CommandRecord(command_id=command_id, status=status, body=body)
    recent = (*wallet.recent_commands, record)[-MAX_RECENT_COMMANDS:]
    return wallet.model_copy(update={"recent_commands": recent})

"""The wallet agent: executes wallet commands against the vault and keeps the snapshot.

Commands travel on `wallet-commands` keyed by customer id, so the one worker that owns
the customer's partition (and the wallet row) executes them, one at a time per
partition. The HTTP view that accepted the command waits for the answer on `wallet-replies`
(request/reply by correlation id, see `WalletReplies`), so a caller on any worker gets
the result synchronously.

A reply is `{"status": <http status>, "body": <json>}`. Replies of executed commands are
kept on the wallet by command id: a redelivered command (worker crash before the
offset commit) is answered from there instead of vaulting the nonce twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer
from mode import Service
from pydantic import ValidationError

from agents import metrics
from agents.record_retry import until_done
from gateway.errors import NotFoundGatewayError, PermanentGatewayError, TransientGatewayError
from gateway.port import PaymentGateway, VaultedPaymentMethod
from schemas.dead_letter import DeadLetter
from schemas.validation import describe_validation_error
from streams.channels import WALLET_COMMANDS, WALLET_REPLIES
from streams.logs import get_logger
from streams.publisher import send_and_wait
from streams.settings import WorkerSettings
from streams.topics import Topics
from tables.model_table import ModelTable
from tables.wallet_state import (
    AddMethod,
    DeleteMethod,
    UpdateMethod,
    Wallet,
    WalletCommand,
    from_vaulted,
    parse_command,
    put_method,
    record_reply,
    remove_method,
)
from tables.worker_tables import wallets_table

PublishDeadLetter = Callable[[DeadLetter, str | None], Awaitable[None]]

log = get_logger("paystream.wallets")

Reply = dict[str, Any]
REPLY_HEADER = "paystream-reply-to"
Clock = Callable[[], datetime]


def error_body(status: int, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    """The JSON error shape of every paystream web view."""
    return {"error": {"status": status, "title": title, "detail": detail, **extra}}


def reply(status: int, body: Any) -> Reply:
    return {"status": status, "body": body}


class WalletCommandHandler:
    def __init__(self, gateway: PaymentGateway, store: ModelTable[Wallet],
                 clock: Clock = lambda: datetime.now(UTC),
                 dead_letter: PublishDeadLetter | None = None) -> None:
        self.gateway = gateway
        self.store = store
        self.clock = clock
        self.dead_letter = dead_letter

    async def handle(self, raw: bytes) -> Reply:
        try:
            command = parse_command(raw)
        except ValidationError as exc:
            if self.dead_letter is not None:
                # The asker (if any) gets its 400; the record is kept with its reason.
                metrics.DEAD_LETTERS.labels(source=WALLET_COMMANDS).inc()
                await self.dead_letter(DeadLetter(
                    source=WALLET_COMMANDS,
                    reason=f"invalid wallet command: {describe_validation_error(exc)}",
                    payload=raw.decode("utf-8", "replace"), error_type="ValidationError",
                    first_seen_at=self.clock(), attempts=1), None)
            return reply(400, error_body(400, "Invalid wallet command",
                                         f"{exc.error_count()} validation error(s)"))
        wallet = self.store.get(command.customer_id)
        if wallet is not None:
            done = wallet.reply_for(command.command_id)
            if done is not None:
                return reply(done.status, done.body)
        try:
            return await self._execute(command, wallet)
        except NotFoundGatewayError as exc:
            return reply(404, error_body(404, "Payment method not found in the vault",
                                         exc.message))
        except PermanentGatewayError as exc:
            return reply(422, error_body(422, "Refused by the payment vault", exc.message,
                                         codes=exc.codes))
        except TransientGatewayError as exc:
            log.warning("wallet.gateway_unavailable", customer_id=command.customer_id,
                        op=command.op, error=type(exc).__name__)
            return reply(503, error_body(503, "Payment vault unavailable",
                                         "the vault did not answer; retry later"))
        except Exception as exc:  # never stop the agent for every other customer
            log.exception("wallet.command_failed", customer_id=command.customer_id,
                          op=command.op)
            return reply(500, error_body(500, "Wallet command failed", type(exc).__name__))

    async def _execute(self, command: WalletCommand, wallet: Wallet | None) -> Reply:
        if isinstance(command, AddMethod):
            return await self._add(command, wallet)
        if wallet is None or wallet.method(command.token) is None:
            # Also the ownership check: a token is only ever touched through the wallet
            # it was vaulted into.
            return reply(404, error_body(404, "Payment method not found",
                                         f"customer {command.customer_id} has no payment "
                                         "method with this token"))
        if isinstance(command, UpdateMethod):
            return await self._update(command, wallet)
        return await self._delete(command, wallet)

    async def _add(self, command: AddMethod, wallet: Wallet | None) -> Reply:
        if wallet is None:
            await self.gateway.create_customer(customer_id=command.customer_id)
        vaulted = await self.gateway.vault_payment_method(
            customer_id=command.customer_id, nonce=command.nonce,
            make_default=command.make_default)
        return self._store_vaulted(command, wallet, vaulted, 201, "wallet.method_added")

    async def _update(self, command: UpdateMethod, wallet: Wallet) -> Reply:
        vaulted = await self.gateway.update_payment_method(
            command.token, make_default=command.make_default,
            expiration_month=command.expiration_month,
            expiration_year=command.expiration_year,
            billing_postal_code=command.billing_postal_code)
        return self._store_vaulted(command, wallet, vaulted, 200, "wallet.method_updated")

    def _store_vaulted(self, command: AddMethod | UpdateMethod, wallet: Wallet | None,
                       vaulted: VaultedPaymentMethod, status: int, event: str) -> Reply:
        """Put the vault's view of the method into the snapshot and answer with it."""
        now = self.clock()
        method = from_vaulted(vaulted, now)
        updated = put_method(wallet, command.customer_id, method, now)
        body = updated.method(method.token)
        assert body is not None
        return self._commit(updated, command.command_id, status, body.model_dump(mode="json"),
                            event, method.type)

    async def _delete(self, command: DeleteMethod, wallet: Wallet) -> Reply:
        # Already gone from the vault (a retry) is fine: the snapshot catches up below.
        with contextlib.suppress(NotFoundGatewayError):
            await self.gateway.delete_payment_method(command.token)
        updated = remove_method(wallet, command.token, self.clock())
        return self._commit(updated, command.command_id, 204, None, "wallet.method_deleted",
                            None)

    def _commit(self, wallet: Wallet, command_id: str, status: int, body: Any, what: str,
                method_type: str | None) -> Reply:
        self.store.put(wallet.customer_id, record_reply(
            wallet, command_id, status, body if isinstance(body, dict) else {}))
        log.info(what, customer_id=wallet.customer_id, method_type=method_type,
                 methods=len(wallet.methods))
        return reply(status, body)


class WalletReplies:
    """The asking side of wallet request/reply: sends a command, awaits its reply.

    Replies come back on `wallet-replies`, read by a plain consumer outside the
    worker's consumer group (every worker reads every partition from the end and keeps
    the replies it is waiting for). Faust's own `agent.ask` consumes replies inside the
    group and leaves the last reply unacknowledged, which stalls the next rebalance
    (the consumer waits for it forever), so it cannot be used across a fail-over.
    """

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self._waiting: dict[str, asyncio.Future[Reply]] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        async with self._lock:
            if self._consumer is not None:
                return
            consumer = AIOKafkaConsumer(self.topic, bootstrap_servers=self.bootstrap,
                                        group_id=None, enable_auto_commit=False,
                                        auto_offset_reset="latest")
            await consumer.start()
            # Without a group every partition is assigned as soon as metadata arrives.
            async with asyncio.timeout(30):
                while not consumer.assignment():
                    await asyncio.sleep(0.05)
            # Resolve "latest" now: a reply that lands before the position is known
            # would otherwise be skipped.
            for tp in consumer.assignment():
                await consumer.position(tp)
            self._consumer = consumer
            self._task = asyncio.create_task(self._run(consumer))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._consumer is not None:
            await self._consumer.stop()
        self._consumer = self._task = None

    async def _run(self, consumer: AIOKafkaConsumer) -> None:
        async for record in consumer:
            correlation_id = record.key.decode() if record.key else ""
            future = self._waiting.get(correlation_id)
            if future is not None and not future.done() and record.value is not None:
                future.set_result(json.loads(record.value))

    async def ask(self, send: Callable[[str], Awaitable[None]], timeout: float) -> Reply:
        """Send a command through `send(correlation_id)`, return its reply or raise
        TimeoutError."""
        await self.start()
        correlation_id = uuid.uuid4().hex
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiting[correlation_id] = future
        try:
            await send(correlation_id)
            return await asyncio.wait_for(future, timeout)
        finally:
            self._waiting.pop(correlation_id, None)


class WalletClient:
    """What the web views use: one call per command, answered by the owning worker."""

    def __init__(self, commands: Any, replies: WalletReplies) -> None:
        self.commands = commands
        self.replies = replies

    async def execute(self, command: WalletCommand, timeout: float) -> Reply:
        async def send(correlation_id: str) -> None:
            fut = await self.commands.send(
                key=command.customer_id.encode("utf-8"),
                value=command.model_dump_json().encode("utf-8"),
                headers={REPLY_HEADER: correlation_id.encode()})
            await fut

        return await self.replies.ask(send, timeout)


def register_wallets(app: faust.App, topics: Topics,
                     gateway_provider: Callable[[], PaymentGateway],
                     settings: WorkerSettings) -> tuple[WalletClient, ModelTable[Wallet]]:
    """Declare the wallets table and the command agent; returns (client, table)."""
    store = wallets_table(app, settings.partitions)
    commands = topics.wallet_commands
    replies_topic = topics.wallet_replies
    replies = WalletReplies(settings.kafka_bootstrap_servers, WALLET_REPLIES)

    async def dead_letter(letter: DeadLetter, key: str | None) -> None:
        await send_and_wait(topics.dead_letters, key, letter)

    @app.agent(commands, name="wallet-commands", concurrency=1)
    async def wallet_commands(stream: Any) -> None:
        handler = WalletCommandHandler(gateway_provider(), store, dead_letter=dead_letter)
        async for event in stream.events():
            answer = await until_done(partial(handler.handle, event.value),
                                      agent="wallets", order_id=None)
            correlation_id = event.headers.get(REPLY_HEADER)
            if correlation_id:
                await replies_topic.send(key=correlation_id,
                                         value=json.dumps(answer).encode("utf-8"))

    @app.service
    class WalletRepliesService(Service):
        async def on_start(self) -> None:
            await replies.start()

        async def on_stop(self) -> None:
            await replies.stop()

    return WalletClient(commands, replies), store

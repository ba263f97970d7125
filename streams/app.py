"""The Faust app factory: settings, topics, tables and agents of one paystream worker."""

from __future__ import annotations

from dataclasses import dataclass

import faust

from agents.analytics import register_analytics
from agents.executor import register_executor
from agents.fulfillment import register_fulfillment
from agents.notifications import register_notifications
from agents.orders import register_orders
from agents.reconciler import Reconciler, register_reconciler
from agents.request_handler import RequestHandler
from agents.wallets import register_wallets
from gateway.factory import build_gateway
from gateway.port import PaymentGateway
from gateway.settings import GatewaySettings
from schemas.orders import FulfillmentRequested
from streams.changelog_restore import install_batched_restore
from streams.commit_safety import install_commit_safety
from streams.health import register_health
from streams.publisher import TopicPublisher, send_and_wait
from streams.reconcile_view import register_reconcile_view
from streams.settings import WorkerSettings
from streams.topics import Topics, declare_topics
from streams.view_auth import view_guard
from streams.web_views import register_analytics_views, register_order_views, register_wallet_views
from tables.analytics import AnalyticsWindow
from tables.model_table import ModelTable
from tables.order_record import Order
from tables.payment_ledger import InFlightRecord, PaymentLedgerEntry
from tables.pending import PendingPolicy
from tables.wallet_state import Wallet
from tables.worker_tables import in_flight_table, ledger_table


@dataclass
class WorkerTables:
    """The tables this worker declared; a role the worker does not run leaves its None."""

    ledger: ModelTable[PaymentLedgerEntry]
    # Read only: where calls in flight were kept before they moved into the ledger entry.
    legacy_in_flight: ModelTable[InFlightRecord]
    orders: ModelTable[Order] | None = None
    wallets: ModelTable[Wallet] | None = None
    fulfillment: ModelTable[FulfillmentRequested] | None = None
    analytics: ModelTable[AnalyticsWindow] | None = None


@dataclass
class Paystream:
    app: faust.App
    settings: WorkerSettings
    topics: Topics
    tables: WorkerTables


def create_app(settings: WorkerSettings | None = None,
               gateway: PaymentGateway | None = None) -> Paystream:
    settings = settings or WorkerSettings()
    install_commit_safety()
    install_batched_restore()
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.kafka_bootstrap_servers}",
        store=settings.store,
        datadir=str(settings.datadir),
        # At-least-once: faust's exactly_once mode has open loss/duplicate bugs
        # (#177, #323, #517); every effect here is idempotent instead.
        processing_guarantee="at_least_once",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        producer_acks=-1,
        # Outcomes and the two changelog records of each payment from all in-flight
        # payments share produce requests: one request per record (linger 0) cost the
        # worker ~10 % of its CPU in socket writes, and Kafka as much again. The awaited
        # outcome ack waits at most this much longer.
        producer_linger=0.003,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        table_cleanup_interval=30.0,
        broker_commit_every=100,
        broker_commit_interval=1.0,
        stream_buffer_maxsize=max(4096, settings.in_flight * 4),
        consumer_auto_offset_reset=settings.offset_reset,
        # Our structlog lines are JSON on stdout already; faust's redirect would wrap each
        # in a second log record (and cost a formatter pass per line).
        worker_redirect_stdouts=False,
        broker_session_timeout=settings.session_timeout_s,
        # A third of the session at most (Kafka's advice), so a live member never misses it.
        broker_heartbeat_interval=min(1.0, settings.session_timeout_s / 3),
        consumer_group_instance_id=settings.group_instance_id,
        table_standby_replicas=settings.standby_replicas,
    )
    topics = declare_topics(app, settings.partitions)
    tables = WorkerTables(ledger=ledger_table(app, settings.partitions),
                          legacy_in_flight=in_flight_table(app, settings.partitions))
    publisher = TopicPublisher(topics)
    pending = PendingPolicy(base_s=settings.backoff_base_s, cap_s=settings.backoff_cap_s,
                            give_up_after_s=settings.give_up_after_s)
    state: dict[str, PaymentGateway] = {}

    def gateway_provider() -> PaymentGateway:
        # Lazy and shared: built inside the worker's event loop, one per process.
        if "gateway" not in state:
            state["gateway"] = gateway or build_gateway(_capped(GatewaySettings(),
                                                                settings.in_flight))
        return state["gateway"]

    busy: set[str] = set()

    def handler_factory() -> RequestHandler:
        return RequestHandler(gateway_provider(), tables.ledger, publisher, pending, busy=busy,
                              legacy_in_flight=tables.legacy_in_flight)

    roles = settings.roles
    guard = view_guard(settings)
    if "executor" in roles:
        # More requests than gateway connections are in progress at once, so that each
        # connection is reused as soon as its answer is read.
        register_executor(app, topics.payment_requests, handler_factory,
                          settings.in_flight * 2)
        reconciler = Reconciler(
            gateway_provider, tables.ledger, tables.legacy_in_flight, busy,
            lambda anomaly: send_and_wait(topics.order_anomalies, anomaly.order_id, anomaly),
            publisher.dead_letter)
        register_reconciler(app, reconciler, settings.reconcile_interval_s)
        register_reconcile_view(app, reconciler, guard)
    if "orders" in roles:
        tables.orders = register_orders(app, topics, settings)
        register_order_views(app, tables.orders, guard)
    if "wallets" in roles:
        wallet_client, tables.wallets = register_wallets(app, topics, gateway_provider,
                                                         settings)
        register_wallet_views(app, tables.wallets, wallet_client, guard)
    if "fulfillment" in roles:
        tables.fulfillment = register_fulfillment(app, topics, settings)
    if "analytics" in roles:
        tables.analytics = register_analytics(app, topics, settings)
        register_analytics_views(app, tables.analytics, guard)
    register_notifications(app, roles, settings.partitions, ledger=tables.ledger)
    register_health(app)
    return Paystream(app=app, settings=settings, topics=topics, tables=tables)


def _capped(gateway: GatewaySettings, in_flight: int) -> GatewaySettings:
    """The worker's in-flight cap is its gateway client's concurrency (connections or
    threads): only the HTTP exchange waits for it, while the SDK's request building and
    answer parsing run beside it. Capped in the SDK call instead, a slot stayed taken
    for that CPU work and for the event loop's lag in resuming, and at L=200 ms, C=64 the
    executor reached 0.77-0.88 of C/L where the client's cap gives 0.86-0.93."""
    if gateway.max_workers <= in_flight:
        return gateway
    return gateway.model_copy(update={"max_workers": in_flight})

"""Settings of the stream-processing worker, from the environment, and the one precedence
rule every service (worker, bridge, edge) follows.

Precedence: a service's own variable (`PAYSTREAM_WORKER_*`, `PAYSTREAM_BRIDGE_*`,
`PAYSTREAM_EDGE_*`) wins over the shared one (`KAFKA_BOOTSTRAP_SERVERS`, `SQS_ENDPOINT_URL`,
`AWS_REGION`, `PAYSTREAM_PARTITIONS`), which wins over the default. Every default points at
the local stack on 127.0.0.1.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Final, Literal

from pydantic import AliasChoices, BeforeValidator, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

Role = Literal["executor", "orders", "wallets", "fulfillment", "analytics"]
ALL_ROLES: tuple[Role, ...] = ("executor", "orders", "wallets", "fulfillment", "analytics")

# The local stack's addresses: what a service uses when nothing says otherwise.
LOCAL_KAFKA: Final = "127.0.0.1:9092"
LOCAL_SQS: Final = "http://127.0.0.1:9324"
LOCAL_REGION: Final = "us-east-1"
# Partitions of every keyed topic; tables are co-partitioned with their sources, so the
# worker and the bridge (which may create the topic) must agree.
DEFAULT_PARTITIONS: Final = 4

# The shared variables, each read by several services.
SHARED_KAFKA: Final = ("KAFKA_BOOTSTRAP_SERVERS",)
SHARED_SQS: Final = ("SQS_ENDPOINT_URL",)
SHARED_REGION: Final = ("AWS_REGION", "AWS_DEFAULT_REGION")
SHARED_PARTITIONS: Final = ("PAYSTREAM_PARTITIONS",)


def _empty_is_none(value: object) -> object:
    return None if value == "" else value


# An SQS endpoint: a URL, or None for AWS's regional endpoint (set the variable empty).
SqsEndpoint = Annotated[str | None, BeforeValidator(_empty_is_none)]


def own_then_shared(prefix: str, field: str, shared: tuple[str, ...]) -> AliasChoices:
    """The service's own variable first, then the shared ones (pydantic takes the first
    alias that is set)."""
    return AliasChoices(f"{prefix}{field.upper()}", *shared)


def run_dir() -> Path:
    """Where a service keeps local state when not told otherwise: PAYSTREAM_RUN_DIR, else
    PAYSTREAM_CACHE_DIR, else `.cache` under the working directory."""
    explicit = os.environ.get("PAYSTREAM_RUN_DIR") or os.environ.get("PAYSTREAM_CACHE_DIR")
    return Path(explicit) if explicit else Path.cwd() / ".cache"


def _default_datadir() -> Path:
    return run_dir() / "worker-data"


_WORKER: Final = "PAYSTREAM_WORKER_"


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=_WORKER, extra="ignore", populate_by_name=True)

    kafka_bootstrap_servers: str = Field(
        default=LOCAL_KAFKA,
        validation_alias=own_then_shared(_WORKER, "kafka_bootstrap_servers", SHARED_KAFKA),
    )
    app_id: str = "paystream"
    datadir: Path = Field(default_factory=_default_datadir)
    # The views' bind address: loopback unless told otherwise (streams.view_auth).
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    # Service tokens on the views: "auto" checks them whenever PAYSTREAM_AUTH_ISSUER is
    # set; "off" only on loopback; "on" requires the issuer.
    views_auth: Literal["auto", "on", "off"] = "auto"
    # Partitions of every keyed topic; tables are co-partitioned with their sources.
    partitions: int = Field(
        default=DEFAULT_PARTITIONS,
        validation_alias=own_then_shared(_WORKER, "partitions", SHARED_PARTITIONS))
    replication_factor: int = 1
    # Upper bound on gateway calls in flight in one worker (different orders only).
    in_flight: int = 64
    # A gateway call with no definite answer is repeated (same api_request_key) with an
    # exponential, jittered back-off that grows to minutes: Braintree's own timeout is
    # 60 s. It is given up only after the life of an idempotency key (24 h).
    backoff_base_s: float = 0.2
    backoff_cap_s: float = 120.0
    give_up_after_s: float = 24 * 3600.0
    # How often the reconciler compares the ledger with the gateway (0: only on demand).
    reconcile_interval_s: float = 60.0
    store: str = "rocksdb://"
    # Which agents this worker runs. All by default; a deployment may run executor-only
    # workers beside lifecycle/wallet/analytics workers (same app id, same topics).
    roles: frozenset[Role] = frozenset(ALL_ROLES)
    # A killed worker's partitions move to the survivors only after its session times
    # out; faust's 60 s default would stall those orders for a minute. The broker refuses
    # sessions shorter than its group.min.session.timeout.ms (6 s unless lowered).
    session_timeout_s: float = 6.0
    # Static group membership (Kafka's group.instance.id), a distinct id per worker
    # process: a restarted worker with the same id gets its partitions back at once,
    # without a rebalance of the others. None: dynamic membership.
    group_instance_id: str | None = None
    # Warm copies of each table partition on another worker (faust standbys): with two
    # workers the survivor takes over a dead one's partitions without replaying their
    # changelogs. With one worker there is nowhere to put one.
    standby_replicas: int = 1
    # Where a consumer group with no committed offset starts. "earliest" never skips a
    # request; tests that start fresh groups on a shared broker use "latest".
    offset_reset: Literal["earliest", "latest"] = "earliest"

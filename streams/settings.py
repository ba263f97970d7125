"""Settings of the stream-processing worker, from the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from devstack.paths import run_dir

Role = Literal["executor", "orders", "wallets", "fulfillment", "analytics"]
ALL_ROLES: tuple[Role, ...] = ("executor", "orders", "wallets", "fulfillment", "analytics")


def _default_datadir() -> Path:
    return run_dir() / "worker-data"


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAYSTREAM_WORKER_", extra="ignore")

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS",
                                      "PAYSTREAM_WORKER_KAFKA_BOOTSTRAP_SERVERS"),
    )
    app_id: str = "paystream"
    datadir: Path = Field(default_factory=_default_datadir)
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    # Partitions of every keyed topic; tables are co-partitioned with their sources.
    partitions: int = 4
    replication_factor: int = 1
    # Upper bound on gateway calls in flight in one worker (different orders only).
    in_flight: int = 64
    # Transient gateway errors: retries with exponential backoff and full jitter.
    max_attempts: int = 5
    backoff_base_s: float = 0.2
    backoff_cap_s: float = 5.0
    store: str = "rocksdb://"
    # Which agents this worker runs. All by default; a deployment may run executor-only
    # workers beside lifecycle/wallet/analytics workers (same app id, same topics).
    roles: frozenset[Role] = frozenset(ALL_ROLES)
    # A killed worker's partitions move to the survivors only after its session times
    # out; faust's 60 s default would stall those orders for a minute.
    session_timeout_s: float = 10.0
    # Where a consumer group with no committed offset starts. "earliest" never skips a
    # request; tests that start fresh groups on a shared broker use "latest".
    offset_reset: Literal["earliest", "latest"] = "earliest"

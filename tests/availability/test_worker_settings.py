"""The short-outage consumer settings reach faust (and so aiokafka) from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.app import create_app
from streams.settings import WorkerSettings


def test_static_membership_standbys_and_session_reach_the_consumer(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    monkeypatch.setenv("PAYSTREAM_WORKER_GROUP_INSTANCE_ID", "worker-1")
    monkeypatch.setenv("PAYSTREAM_WORKER_STANDBY_REPLICAS", "1")
    monkeypatch.setenv("PAYSTREAM_WORKER_SESSION_TIMEOUT_S", "9")
    monkeypatch.setenv("PAYSTREAM_WORKER_DATADIR", str(tmp_path))
    conf = create_app(WorkerSettings()).app.conf
    assert conf.consumer_group_instance_id == "worker-1"
    assert conf.table_standby_replicas == 1
    assert conf.broker_session_timeout == 9.0
    # Kafka's advice: a heartbeat at most a third of the session, so a live member is not
    # taken for dead.
    assert conf.broker_heartbeat_interval <= 9.0 / 3


def test_without_an_instance_id_membership_is_dynamic(tmp_path: Path) -> None:
    settings = WorkerSettings(datadir=tmp_path, session_timeout_s=6.0)
    conf = create_app(settings).app.conf
    assert conf.consumer_group_instance_id is None
    assert conf.broker_heartbeat_interval <= 2.0

"""A worker with no local state rebuilds its tables from the changelogs in batches
(streams.changelog_restore): the table it ends with is exactly the changelog's last value
per key - overwritten keys hold their last value, deleted keys are absent, a key deleted
then written again is back - and each partition's persisted offset is its last record, so
a restart with the same data directory resumes from there."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faust
import pytest
import rocksdict
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord
from faust.stores.rocksdb import Store as RocksDBStore
from faust.types import TP

from devstack.services import WorkerProcess
from streams import changelog_restore
from streams.changelog_restore import (
    PartitionRestore,
    apply_batch,
    install_batched_restore,
    restore_actives,
)
from streams.provision import ensure_topics
from tables.model_table import raw_table
from tables.order_record import new_order
from tables.worker_tables import ORDERS_TABLE

PARTITIONS = 4
OFFSET_KEY = RocksDBStore.offset_key

# partition -> key -> value; what the changelog says each partition's table holds.
Expected = dict[int, dict[bytes, bytes]]
# partition -> offset of its last record
LastOffsets = dict[int, int]


def _order(order_id: str, version: int) -> bytes:
    at = datetime(2025, 1, 1, tzinfo=UTC)
    order = new_order(order_id, f"cust-{version}", at)
    return order.model_dump_json().encode()


async def _write(bootstrap: str, topic: str, records: list[tuple[str, bytes | None]],
                 expected: Expected, last: LastOffsets) -> None:
    """Append `records` (None: a tombstone) and fold them into `expected` and `last`."""
    await ensure_topics(bootstrap, PARTITIONS, names=(topic,))
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key.encode())
                   for key, value in records]
        sent = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    for (key, value), meta in sorted(zip(records, sent, strict=True),
                                     key=lambda pair: pair[1].offset):
        rows = expected.setdefault(meta.partition, {})
        if value is None:
            rows.pop(key.encode(), None)
        else:
            rows[key.encode()] = value
        last[meta.partition] = max(last.get(meta.partition, -1), meta.offset)


def _history(round_: int, keys: int) -> list[tuple[str, bytes | None]]:
    """Writes, overwrites and deletes over `keys` keys, ending in a mix of live and
    deleted keys (some deleted then written again)."""
    records: list[tuple[str, bytes | None]] = []
    for version in range(3):
        for i in range(keys):
            records.append((f"k-{i}", _order(f"k-{i}", 10 * round_ + version)))
        for i in range(version, keys, 5):
            records.append((f"k-{i}", None))
    return records


def _tables(datadir: Path) -> dict[int, dict[bytes, bytes]]:
    found: dict[int, dict[bytes, bytes]] = {}
    paths = sorted(datadir.rglob(f"{ORDERS_TABLE}-*.db"))
    assert paths, f"no {ORDERS_TABLE} RocksDB under {datadir}"
    for path in paths:
        partition = int(path.name.removesuffix(".db").rsplit("-", 1)[1])
        db = rocksdict.Rdict(str(path), options=rocksdict.Options(raw_mode=True),
                             access_type=rocksdict.AccessType.read_only())
        try:
            found[partition] = dict(db.items())
        finally:
            db.close()
    return found


def _assert_table_is_the_changelog(datadir: Path, expected: Expected,
                                   last: LastOffsets) -> None:
    found = _tables(datadir)
    for partition in range(PARTITIONS):
        rows = dict(found.get(partition, {}))
        offset = rows.pop(OFFSET_KEY, None)
        assert rows == expected.get(partition, {}), f"partition {partition}"
        if partition in last:
            assert offset == str(last[partition]).encode(), f"partition {partition}"


@pytest.fixture
def worker_env(kafka_bootstrap: str) -> Iterator[dict[str, str]]:
    yield {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "PAYSTREAM_WORKER_APP_ID": f"restore-{uuid.uuid4().hex[:6]}",
        "PAYSTREAM_WORKER_PARTITIONS": str(PARTITIONS),
        "PAYSTREAM_WORKER_VIEWS_AUTH": "off",
        "PAYSTREAM_WORKER_ROLES": json.dumps(["orders"]),
        # The broker is shared with earlier tests, whose orders and outcomes are still in
        # the (app-independent) source topics: the worker must not fold them into the
        # table under test. Recovery reads the changelog regardless of this setting.
        "PAYSTREAM_WORKER_OFFSET_RESET": "latest",
    }


def _run_until_ready(env: dict[str, str], datadir: Path, log: Path) -> WorkerProcess:
    worker = WorkerProcess(env, datadir, log)
    worker.start()
    try:
        worker.wait_ready(timeout=180)
    except BaseException:
        worker.stop()
        raise
    return worker


def test_rebuilt_table_is_the_changelogs_last_value_per_key(
        kafka_bootstrap: str, worker_env: dict[str, str], tmp_path: Path) -> None:
    topic = f"{worker_env['PAYSTREAM_WORKER_APP_ID']}-{ORDERS_TABLE}-changelog"
    expected: Expected = {}
    last: LastOffsets = {}
    asyncio.run(_write(kafka_bootstrap, topic, _history(0, 200), expected, last))
    datadir = tmp_path / "data"

    worker = _run_until_ready(worker_env, datadir, tmp_path / "w1.log")
    try:
        status, body = worker.get_json("/orders/k-1")
        live = expected[next(p for p, rows in expected.items() if b"k-1" in rows)][b"k-1"]
        assert status == 200 and body["customer_id"] == json.loads(live)["customer_id"]
        deleted = next(k for k in (f"k-{i}" for i in range(200))
                       if all(k.encode() not in rows for rows in expected.values()))
        assert worker.get_json(f"/orders/{deleted}")[0] == 404
    finally:
        worker.stop()
    assert "Batched restore:" in (tmp_path / "w1.log").read_text()
    _assert_table_is_the_changelog(datadir, expected, last)

    # More history while the worker is away; it restarts from its persisted offsets.
    asyncio.run(_write(kafka_bootstrap, topic, _history(1, 120), expected, last))
    worker = _run_until_ready(worker_env, datadir, tmp_path / "w2.log")
    worker.stop()
    _assert_table_is_the_changelog(datadir, expected, last)


def _record(offset: int, key: bytes | None, value: bytes | None) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(topic="t", partition=0, offset=offset, timestamp=0,
                          timestamp_type=0, key=key, value=value, checksum=None,
                          serialized_key_size=0, serialized_value_size=0, headers=())


def test_apply_batch_writes_records_and_offset_together(tmp_path: Path) -> None:
    db = rocksdict.Rdict(str(tmp_path / "db"), options=rocksdict.Options(raw_mode=True))
    try:
        store = RocksDBStore.__new__(RocksDBStore)
        part = PartitionRestore(tp=None, store=store, offset=1, highwater=5)  # type: ignore[arg-type]
        db.put(b"gone", b"x")
        apply_batch(part, db, [
            _record(1, b"old", b"already applied"),  # at or below the offset: skipped
            _record(2, b"a", b"1"), _record(3, b"gone", None), _record(4, b"a", b"2"),
            _record(5, b"b", b"1"),
            _record(6, b"c", b"past the highwater"),  # faust's recovery reads it later
        ])
        assert dict(db.items()) == {b"a": b"2", b"b": b"1", OFFSET_KEY: b"5"}
        assert (part.offset, part.records, part.deletes, part.done) == (5, 4, 1, True)

        keyless = PartitionRestore(tp=None, store=store, offset=5, highwater=9)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            apply_batch(keyless, db, [_record(6, None, b"v")])
        assert db.get(OFFSET_KEY) == b"5"
    finally:
        db.close()


async def _in_process(kafka_bootstrap: str, tmp_path: Path, records: int
                      ) -> tuple[Any, Any, TP, Counter[TP], Expected, LastOffsets]:
    """A faust app that is never started: its recovery service, one RocksDB table and a
    changelog partition holding `records` writes - what `restore_actives` works on."""
    app = faust.App(f"restore-unit-{uuid.uuid4().hex[:6]}",
                    broker=f"kafka://{kafka_bootstrap}", store="rocksdb://",
                    datadir=str(tmp_path / "faust"), topic_partitions=PARTITIONS)
    table = raw_table(app, ORDERS_TABLE, PARTITIONS, "restore test")
    topic = table.changelog_topic.get_topic_name()
    expected: Expected = {}
    last: LastOffsets = {}
    history = [(f"k-{i % 50}", _order(f"k-{i % 50}", i) if i % 7 else None)
               for i in range(records)]
    await _write(kafka_bootstrap, topic, history, expected, last)
    partition = max(last, key=lambda p: last[p])
    tp = TP(topic, partition)
    recovery = app.tables.recovery
    recovery.tp_to_table[tp] = table
    recovery.active_highwaters[tp] = last[partition]
    table.data._db_for_partition(partition)  # faust opens it on assignment
    offsets: Counter[TP] = Counter({tp: -1})
    return recovery, table, tp, offsets, expected, last


async def test_restore_advances_faust_offsets_to_the_highwater(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    recovery, table, tp, offsets, expected, last = await _in_process(
        kafka_bootstrap, tmp_path, 12_000)
    result = await restore_actives(recovery, {tp}, offsets)
    assert result.complete and result.records == last[tp.partition] + 1
    assert offsets[tp] == last[tp.partition]
    db = table.data._dbs[tp.partition]
    rows = {k: v for k, v in db.items() if k != OFFSET_KEY}
    assert rows == expected[tp.partition]
    assert db.get(OFFSET_KEY) == str(last[tp.partition]).encode()
    # Nothing left: a second pass reads nothing.
    assert (await restore_actives(recovery, {tp}, offsets)).partitions == []


async def test_restore_stops_before_writing_once_a_rebalance_starts(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    recovery, table, tp, offsets, _, _ = await _in_process(kafka_bootstrap, tmp_path, 100)
    recovery.signal_recovery_start.set()
    result = await restore_actives(recovery, {tp}, offsets)
    assert not result.complete and result.records == 0 and offsets[tp] == -1
    assert table.data._dbs[tp.partition].get(OFFSET_KEY) is None


async def test_restore_over_budget_leaves_the_rest_to_faust(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    # The fullest of 4 partitions then holds over 6,000 records: more than one batch.
    recovery, table, tp, offsets, expected, last = await _in_process(
        kafka_bootstrap, tmp_path, 24_000)
    result = await restore_actives(recovery, {tp}, offsets, budget_s=0.0)
    # One batch at most, and what it wrote is what faust's offsets and the database say.
    assert not result.complete and 0 <= offsets[tp] < last[tp.partition]
    db = table.data._dbs[tp.partition]
    assert db.get(OFFSET_KEY) == str(offsets[tp]).encode()
    assert result.records == offsets[tp] + 1
    resumed = await restore_actives(recovery, {tp}, offsets)
    assert resumed.complete and resumed.records == last[tp.partition] - result.records + 1
    assert {k: v for k, v in db.items() if k != OFFSET_KEY} == expected[tp.partition]


class _SeekingConsumer:
    def __init__(self) -> None:
        self.seeks: list[dict[TP, int]] = []

    async def seek_wait(self, offsets: dict[TP, int]) -> None:
        self.seeks.append(dict(offsets))


async def test_a_failed_restore_leaves_the_partitions_to_faust(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_batched_restore()
    app = faust.App(f"restore-fail-{uuid.uuid4().hex[:6]}", broker="kafka://127.0.0.1:1",
                    store="rocksdb://", datadir=str(tmp_path / "faust"))
    recovery = app.tables.recovery
    tp = TP("some-changelog", 0)

    async def broken(*args: object, **kwargs: object) -> None:
        raise ConnectionError("broker gone")

    monkeypatch.setattr(changelog_restore, "restore_actives", broken)
    consumer = _SeekingConsumer()
    await recovery._seek_offsets(consumer, {tp}, Counter({tp: 41}), "active")
    # Faust's own seek still happens, from the offsets as they stood.
    assert consumer.seeks == [{tp: 41}]

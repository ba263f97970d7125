"""The supervisor's rules (pure) and its loop against fake processes on a fake clock:
restart at once, back off while crashing in a row, forget the crashes after a healthy run."""

from __future__ import annotations

from pathlib import Path

from devstack.supervisor import (
    RestartPolicy,
    Supervised,
    backoff_s,
    consecutive_after_crash,
    supervise_once,
)

POLICY = RestartPolicy(base_s=1.0, cap_s=30.0, healthy_s=60.0)


class FakeProcess:
    def __init__(self) -> None:
        self.launches = 0
        self.running = True

    @property
    def log_path(self) -> Path:
        return Path("fake.log")

    @property
    def pid(self) -> int | None:
        return 1000 + self.launches

    @property
    def exit_code(self) -> int | None:
        return None if self.running else -9

    def alive(self) -> bool:
        return self.running

    def launch(self) -> None:
        self.launches += 1
        self.running = True

    def stop(self) -> None:
        self.running = False


def test_backoff_doubles_per_consecutive_crash_up_to_the_cap() -> None:
    assert [backoff_s(n, POLICY) for n in (1, 2, 3, 4, 5, 6, 7)] == [
        1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_a_crash_after_a_healthy_run_counts_as_the_first() -> None:
    assert consecutive_after_crash(5, up_for_s=60.0, policy=POLICY) == 1
    assert consecutive_after_crash(5, up_for_s=59.9, policy=POLICY) == 6
    assert consecutive_after_crash(0, up_for_s=0.5, policy=POLICY) == 1


def test_supervisor_restarts_at_once_backs_off_and_resets_after_a_healthy_period() -> None:
    proc = FakeProcess()
    svc = Supervised("kafka", proc, proc.alive)
    svc.started(0.0)
    assert supervise_once([svc], POLICY, now=10.0) == []

    proc.running = False  # first crash: restarted at once
    assert supervise_once([svc], POLICY, now=11.0) == ["kafka"]
    assert (proc.launches, svc.restarts, svc.consecutive) == (1, 1, 1)

    proc.running = False  # again within a second: waits until 12.0
    assert supervise_once([svc], POLICY, now=11.5) == []
    assert supervise_once([svc], POLICY, now=12.0) == ["kafka"]
    assert svc.consecutive == 2 and svc.next_restart_at == 14.0

    # Up for a healthy period: the count is forgotten while it runs.
    assert supervise_once([svc], POLICY, now=12.0 + 60.0) == []
    assert svc.consecutive == 0 and svc.next_restart_at == 0.0
    proc.running = False
    assert supervise_once([svc], POLICY, now=80.0) == ["kafka"]
    assert svc.consecutive == 1 and svc.next_restart_at == 81.0
    assert svc.restarts == 3  # the total is still reported


def test_services_come_back_in_start_order() -> None:
    broker, worker = FakeProcess(), FakeProcess()
    services = [Supervised("kafka", broker, broker.alive),
                Supervised("worker", worker, worker.alive)]
    broker.running = worker.running = False
    assert supervise_once(services, POLICY, now=5.0) == ["kafka", "worker"]

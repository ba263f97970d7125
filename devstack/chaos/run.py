"""`paystream chaos`: start the platform on free ports in a scratch run directory, inject
gateway faults, drive shopper traffic through the edge while SIGKILLing the worker(s), the
bridge and Kafka at random moments, let everything settle, then compare every order with
the simulator's ledger (devstack.chaos.report).

The platform runs as `paystream up --free-ports` in a child process, exactly as a user
runs it, so its own supervisor restarts whatever the run kills.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx
import typer

from devstack.chaos.report import Sent, build_report, unresolved
from devstack.chaos.traffic import Traffic, TrafficConfig
from devstack.paths import REPO_ROOT, run_dir

START_TIMEOUT_S: Final = 300.0
# Issue #12's figure: long enough that the executor's call has given up, short enough
# that the gateway applies it within the run.
TIMEOUT_HOLD_S: Final = 12.0
VIEW_READERS: Final = 16
SHOPPER_RATE_LIMIT: Final = "10000/second"
RESTART_WAIT_S: Final = 60.0


@dataclass
class ChaosOptions:
    orders: int = 100
    rate: float = 10.0
    faults: float = 0.1
    kills: int = 1
    broker_restarts: int = 0
    settle_s: float = 120.0
    seed: int = 1
    workers: int = 1
    run_dir: Path | None = None
    keep_data: bool = False
    # What a kill may hit: "worker" (any worker) and "bridge"; both unless narrowed.
    kill_targets: tuple[str, ...] = ("worker", "bridge")


@dataclass
class ChaosEvent:
    at: float
    action: str
    target: str
    pid: int | None


@dataclass
class RunningPlatform:
    proc: subprocess.Popen[bytes]
    run_dir: Path
    events: list[ChaosEvent] = field(default_factory=list)

    @property
    def state_file(self) -> Path:
        return self.run_dir / "stack" / "platform.json"

    def state(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.state_file.read_text())
        return data

    def _live_pid(self, target: str, wait_s: float) -> int | None:
        """The component's pid once it runs a process this run has not killed yet: a
        second kill soon after the first waits for the restart instead of hitting a
        corpse."""
        killed = {e.pid for e in self.events if e.target == target}
        deadline = time.monotonic() + wait_s
        while True:
            pid = self.state().get("pids", {}).get(target)
            if pid and pid not in killed and _alive(int(pid)):
                return int(pid)
            if time.monotonic() > deadline:
                return None
            time.sleep(0.5)

    def sigkill(self, target: str, began: float, action: str) -> None:
        """SIGKILL the component's process group: the crash case, no clean shutdown."""
        pid = self._live_pid(target, RESTART_WAIT_S)
        if pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        self.events.append(ChaosEvent(round(time.monotonic() - began, 3), action, target, pid))

    def stop(self) -> None:
        pids = list(self.state().get("pids", {}).values()) if self.state_file.exists() else []
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in pids:  # whatever an interrupted stop left behind
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(int(pid), signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start_platform(options: ChaosOptions, where: Path) -> RunningPlatform:
    env = {**os.environ, "PAYSTREAM_RUN_DIR": str(where),
           "PAYSTREAM_SIM_SEED": str(options.seed),
           # One dev shopper places every order of the run: the per-shopper limit (a guard
           # against one abusive client) would measure itself, not the failures.
           "PAYSTREAM_EDGE_RATE_LIMIT_PER_SUBJECT": SHOPPER_RATE_LIMIT}
    for key in ("KAFKA_BOOTSTRAP_SERVERS", "SQS_ENDPOINT_URL"):
        env.pop(key, None)  # the platform starts its own brokers
    argv = [sys.executable, "-m", "streams.cli", "up", "--free-ports"]
    if options.workers > 1:
        argv += ["--workers", str(options.workers)]
    out = (where / "up.out").open("wb")
    proc = subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    running = RunningPlatform(proc, where)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not running.state_file.exists() and proc.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.5)
    if not running.state_file.exists():
        running.stop()
        raise RuntimeError("platform did not start:\n"
                           + (where / "up.out").read_text(errors="replace")[-4000:])
    return running


def fault_config(share: float) -> dict[str, Any]:
    """The simulator's fault settings: `share` of gateway calls fail, spread evenly over
    held-then-applied, 503, 429 and applied-then-dropped."""
    quarter = share / 4
    return {"timeout_fraction": quarter, "error_5xx_fraction": quarter,
            "throttle_fraction": quarter, "drop_after_apply_fraction": quarter,
            "timeout_hold_seconds": TIMEOUT_HOLD_S}


def chaos_schedule(options: ChaosOptions, duration_s: float, workers: list[str],
                   rng: random.Random) -> list[tuple[float, str, str]]:
    """(when, action, target) for every kill and broker restart, inside the drive."""
    start, end = min(2.0, duration_s / 4), max(duration_s * 0.9, 2.5)
    targets = [*(workers if "worker" in options.kill_targets else []),
               *(["bridge"] if "bridge" in options.kill_targets else [])]
    plan = [(rng.uniform(start, end), "sigkill", rng.choice(targets))
            for _ in range(options.kills if targets else 0)]
    plan += [(rng.uniform(start, end), "broker_restart", "kafka")
             for _ in range(options.broker_restarts)]
    return sorted(plan)


async def _inject(platform: RunningPlatform, plan: list[tuple[float, str, str]],
                  began: float) -> None:
    for at, action, target in plan:
        await asyncio.sleep(max(0.0, began + at - time.monotonic()))
        await asyncio.to_thread(platform.sigkill, target, began, action)


async def _read_views(traffic: Traffic, order_ids: list[str],
                      views: dict[str, dict[str, Any] | None]) -> None:
    """The worker's order views; None for an order no worker knows."""
    gate = asyncio.Semaphore(VIEW_READERS)

    async def read(oid: str) -> None:
        async with gate:
            views[oid] = await traffic.order_view(oid)

    await asyncio.gather(*(read(oid) for oid in order_ids))


async def settle(traffic: Traffic, sent: list[Sent], order_ids: list[str],
                 limit_s: float) -> tuple[dict[str, dict[str, Any] | None], float | None]:
    """Read the order views until every order shows an outcome for every accepted request,
    or the limit passes; returns the views and the time it took (None: ran out)."""
    began = time.monotonic()
    views: dict[str, dict[str, Any] | None] = {}
    per_order: dict[str, list[Sent]] = {oid: [] for oid in order_ids}
    for s in sent:
        per_order.setdefault(s.order_id, []).append(s)
    waiting = list(per_order)
    while True:
        await _read_views(traffic, waiting, views)
        waiting = [oid for oid in waiting if unresolved(oid, per_order[oid], views[oid])]
        elapsed = time.monotonic() - began
        if not waiting:
            return views, round(elapsed, 3)
        if elapsed > limit_s:
            return views, None
        await asyncio.sleep(1.0)


async def _run(options: ChaosOptions, platform: RunningPlatform, run_id: str) -> dict[str, Any]:
    state = platform.state()
    sim = state["simulator"]
    async with httpx.AsyncClient(timeout=10) as http:
        # Captures settle at once, so the partial refund (Braintree refunds only settled
        # captures) can follow the deposit.
        (await http.post(f"{sim}/__sim__/config", json={"auto_settle_seconds": 0})
         ).raise_for_status()
        traffic = Traffic(TrafficConfig(edge_url=state["edge"],
                                        token_endpoint=state["token_endpoint"],
                                        worker_urls=state.get("workers")
                                        or [state["worker_views"]],
                                        orders=options.orders, rate=options.rate,
                                        seed=options.seed, run_id=run_id))
        try:
            await traffic.discover()
            await traffic.vault_card()
            (await http.post(f"{sim}/__sim__/config", json=fault_config(options.faults))
             ).raise_for_status()
            workers = [n for n in state.get("pids", {}) if n.startswith("worker")]
            plan = chaos_schedule(options, options.orders / options.rate, workers,
                                  random.Random(options.seed))
            began = time.monotonic()
            injector = asyncio.create_task(_inject(platform, plan, began))
            drive_s = await traffic.drive()
            await injector
            # The gateway recovers; what is still unknown must now resolve.
            (await http.post(f"{sim}/__sim__/config", json=fault_config(0.0))
             ).raise_for_status()
            views, settle_s = await settle(traffic, traffic.sent, traffic.order_ids,
                                           options.settle_s)
        finally:
            await traffic.aclose()
        ledger = (await http.get(f"{sim}/__sim__/ledger", timeout=60)).json()
    report = build_report(traffic.sent, traffic.calls, views, ledger, settle_s)
    report["merchant_api"] = traffic.merchant_api
    report["drive_s"] = round(drive_s, 1)
    report["events"] = [asdict(e) for e in platform.events]
    report["restarts"] = platform.state().get("restarts", {})
    return report


def run_chaos(options: ChaosOptions) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:6]
    where = options.run_dir or run_dir() / "chaos" / run_id
    where.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    platform = start_platform(options, where)
    try:
        report = asyncio.run(_run(options, platform, run_id))
    finally:
        platform.stop()
        if not options.keep_data:
            shutil.rmtree(where / "stack" / "platform", ignore_errors=True)
    return {"options": {k: str(v) if isinstance(v, Path) else v
                        for k, v in asdict(options).items()},
            "run_id": run_id, "logs": _shown(where / "logs"), **report,
            "total_s": round(time.monotonic() - began, 1)}


def _shown(path: Path) -> str:
    """Relative to the repository when inside it: reports are committed."""
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def chaos(
    orders: int = typer.Option(100, "--orders", min=1, help="Orders to drive"),
    rate: float = typer.Option(10.0, "--rate", min=0.1, help="Orders started per second"),
    faults: float = typer.Option(0.1, "--faults", min=0.0, max=1.0,
                                 help="Share of gateway calls that fail"),
    kills: int = typer.Option(1, "--kills", min=0, help="SIGKILLs of a worker or the bridge"),
    broker_restarts: int = typer.Option(0, "--broker-restarts", min=0,
                                        help="SIGKILLs of Kafka"),
    settle_s: float = typer.Option(120.0, "--settle-s", min=0.0,
                                   help="How long every order may take to reach its outcome"),
    seed: int = typer.Option(1, "--seed", help="Seeds the traffic, the kills and the faults"),
    workers: int = typer.Option(1, "--workers", min=1, max=8),
    json_file: Path | None = typer.Option(None, "--json", help="Also write the report here"),
    keep_data: bool = typer.Option(False, "--keep-data",
                                   help="Keep the run's Kafka, queue and table data"),
) -> None:
    """Drive orders through the platform under faults and kills; compare with the ledger.

    Prints a JSON report; exits 1 if an order was lost, doubled or disagrees with it."""
    report = run_chaos(ChaosOptions(orders=orders, rate=rate, faults=faults, kills=kills,
                                    broker_restarts=broker_restarts, settle_s=settle_s,
                                    seed=seed, workers=workers, keep_data=keep_data))
    text = json.dumps(report, indent=2)
    if json_file is not None:
        json_file.parent.mkdir(parents=True, exist_ok=True)
        json_file.write_text(text + "\n")
    print(text)
    raise typer.Exit(1 if report["lost"] or report["double"] or report["mismatch"] else 0)

"""A short chaos run in `make test`: the whole platform, about 100 orders through the edge
with 10 % gateway faults and one SIGKILL of the worker. A correctness test: whatever fails
and however long it takes, no order is lost, no money moves twice, and every order agrees
with the gateway's ledger. (No timing assertions: the machine may be busy.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devstack.chaos.run import ChaosOptions, run_chaos


@pytest.mark.timeout(900)
def test_short_chaos_run_loses_nothing_doubles_nothing_and_matches_the_ledger(
    tmp_path: Path,
) -> None:
    report = run_chaos(ChaosOptions(orders=100, rate=10.0, faults=0.1, kills=1,
                                    kill_targets=("worker",), settle_s=180.0, seed=7,
                                    run_dir=tmp_path))
    (tmp_path / "report.json").write_text(json.dumps(report, indent=2))
    evidence = json.dumps({k: report[k] for k in ("examples", "events", "restarts", "logs")},
                          indent=2)
    assert [e["target"] for e in report["events"]] == ["worker"]
    assert report["restarts"]["worker"] >= 1
    assert report["accepted"] > 0, evidence
    assert (report["lost"], report["double"], report["mismatch"]) == (0, 0, 0), evidence

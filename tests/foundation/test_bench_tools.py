"""The benchmarks' own logic: the --find-max search and the profile's stage breakdown."""

from __future__ import annotations

from typing import Any

from devstack.bench.edge_max import find_max, passes
from devstack.bench.profile import breakdown


def test_a_step_passes_only_without_errors_under_the_limit_at_the_rate() -> None:
    assert passes({"errors": 0, "p99_ms": 99.0, "achieved_rps": 96.0}, 100)
    assert not passes({"errors": 1, "p99_ms": 10.0, "achieved_rps": 100.0}, 100)
    assert not passes({"errors": 0, "p99_ms": 100.0, "achieved_rps": 100.0}, 100)
    assert not passes({"errors": 0, "p99_ms": 10.0, "achieved_rps": 90.0}, 100)


def test_find_max_climbs_then_bisects_below_the_knee() -> None:
    knee = 430.0
    tried: list[float] = []

    async def load(url: str, tokens: list[str], rps: float, seconds: float,
                   record: bool) -> dict[str, Any]:
        if record:
            tried.append(rps)
        p99 = 20.0 if rps <= knee else 500.0
        return {"errors": 0, "p99_ms": p99, "achieved_rps": rps}

    result = find_max(load, "http://x", [], start_rps=200, step_seconds=1)
    # 200, 250, 312.5, 390.6 pass, 488.3 fails (twice); then 439.5 fails (twice) and 415.0
    # passes.
    assert [round(r, 1) for r in tried] == [200, 250, 312.5, 390.6, 488.3, 488.3, 439.5,
                                            439.5, 415.0]
    assert result["max_rps"] == 415.0


def test_one_stall_does_not_fail_a_step() -> None:
    measured: list[float] = []

    async def load(url: str, tokens: list[str], rps: float, seconds: float,
                   record: bool) -> dict[str, Any]:
        if record:
            measured.append(rps)
        # The first measured step stalls once; the machine sustains up to 430/s.
        stalled = record and len(measured) == 1
        p99 = 20.0 if rps <= 430 and not stalled else 500.0
        return {"errors": 0, "p99_ms": p99, "achieved_rps": rps}

    result = find_max(load, "http://x", [], start_rps=200, step_seconds=1)
    assert [(s["rps"], s["attempt"], s["passed"]) for s in result["steps"][:3]] == [
        (200, 1, False), (200, 2, True), (250, 1, True)]
    assert result["max_rps"] == 415.0


def test_breakdown_charges_stdlib_frames_to_their_caller() -> None:
    collapsed = "\n".join([
        'process 1:"python";run (asyncio/events.py:80);'
        'Http._make_request (braintree/util/http.py:120);parseString (xml/dom/minidom.py:1) 6',
        'process 1:"python";run (asyncio/events.py:80);send (aiokafka/conn.py:5);'
        'write (asyncio/selector_events.py:9) 3',
        'process 1:"python";select (selectors.py:468) 1',
    ])
    result = breakdown(collapsed).as_dict()
    assert result["samples"] == 10
    assert result["stages_pct"]["braintree SDK (XML, request building)"] == 60.0
    assert result["stages_pct"]["aiokafka client (fetch, produce, commit)"] == 30.0
    assert result["top_self_pct"]["parseString (xml/dom/minidom.py)"] == 60.0


def test_edge_breakdown_charges_by_the_edge_layers() -> None:
    collapsed = "\n".join([
        'process 1:"python";serve (api_edge/cli.py:60);solve_dependencies '
        '(fastapi/dependencies/utils.py:600);verify (api_edge/auth/verifier.py:50);'
        'decode (jwt/api_jwt.py:200) 2',
        'process 1:"python";serve (api_edge/cli.py:60);send (bridge_sqs/sqs_client.py:70);'
        '_request (aiohttp/client.py:500);dumps (json/__init__.py:231) 1',
        'process 1:"python";serve (api_edge/cli.py:60);request (api_edge/upstream.py:70);'
        'request (streams/keepalive_http.py:240);dumps (json/__init__.py:231) 2',
        'process 1:"python";serve (api_edge/cli.py:60);_send_once '
        '(api_edge/worker_views.py:200) 5',
    ])
    result = breakdown(collapsed, edge=True).as_dict()
    assert result["stages_pct"] == {"paystream edge (api_edge)": 50.0,
                                    "keep-alive HTTP client (A->B, B->views)": 20.0,
                                    "aiohttp client (B->SQS)": 10.0,
                                    "JWT check (PyJWT, cryptography)": 20.0}


def test_find_max_halves_down_when_the_first_step_fails() -> None:
    async def load(url: str, tokens: list[str], rps: float, seconds: float,
                   record: bool) -> dict[str, Any]:
        return {"errors": 0, "p99_ms": 20.0 if rps <= 30 else 900.0, "achieved_rps": rps}

    result = find_max(load, "http://x", [], start_rps=200, step_seconds=1)
    rates = [s["rps"] for s in result["steps"] if s["attempt"] == 1]
    assert rates[:4] == [200, 100, 50, 25]
    assert result["max_rps"] is not None and 25 <= result["max_rps"] <= 30


def test_the_ceiling_with_a_free_worker_is_the_cores_over_the_others_cpu() -> None:
    from devstack.bench.executor import ceiling_with_a_free_worker

    # 1.2 ms of Kafka and 0.8 ms of simulator per payment on 2 cores: 1000 payments/s.
    assert ceiling_with_a_free_worker({"kafka": 1.2, "simulator": 0.8, "worker": 3.0}, 2) \
        == 1000.0
    assert ceiling_with_a_free_worker({"worker": 3.0}, 2) is None


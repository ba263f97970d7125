"""Sampling profiles of a running process under bench load, with a breakdown by stage.

py-spy samples the target's stacks from outside (no code change, no tracing overhead in
the target); `record` writes the collapsed stacks ("frame;frame;frame count" lines),
from which a flame graph is drawn (`py-spy record --format flamegraph` or any
collapsed-stack viewer) and from which `breakdown` computes:
- `stages`: each sample charged to the innermost frame that belongs to a known package
  (stdlib frames such as asyncio or json are charged to whoever called them), so the
  shares say which layer the CPU is spent for;
- `top_self`: the frames at the top of the stacks (self time), as in a flame graph's
  widest leaves.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# (stage, pattern over a frame's file path); the first that matches names the stage.
STAGES: tuple[tuple[str, str], ...] = (
    ("braintree SDK (XML, request building)", r"^braintree/"),
    ("aiohttp (gateway HTTP)", r"^(aiohttp|yarl|multidict)/"),
    ("gateway adapter + async transport", r"^gateway/|^streams/keepalive_http\.py"),
    ("pydantic (parse, dump, copy)", r"^(pydantic|pydantic_core)/"),
    ("structlog JSON logging", r"^structlog/|^streams/logs\.py"),
    ("prometheus metrics", r"^prometheus_client/"),
    ("tables (changelog, RocksDB)", r"^(rocksdict|faust/tables|faust/stores)/"
                                    r"|^tables/model_table\.py"),
    ("faust/mode stream + agent machinery", r"^(faust|mode|venusian)/"),
    ("aiokafka client (fetch, produce, commit)", r"^(aiokafka|kafka)/"),
    ("paystream executor (handler, dispatcher)", r"^agents/(request_handler|ordered_dispatch"
                                                 r"|executor|record_retry)\.py"),
    ("paystream other agents", r"^agents/"),
    ("paystream core (plan, ledger, schemas)", r"^(tables|schemas)/"),
    ("paystream streams (publisher, app)", r"^streams/"),
)
# The edge's processes (Payments-A and B): the same rule, their own layers.
EDGE_STAGES: tuple[tuple[str, str], ...] = (
    ("JWT check (PyJWT, cryptography)", r"^(jwt|cryptography)/"),
    ("SQS client (incl. botocore SigV4)", r"^(bridge_sqs|botocore)/"),
    ("keep-alive HTTP client (A->B, B->views)", r"^streams/keepalive_http\.py"),
    ("aiohttp client (B->SQS)", r"^(aiohttp|yarl|multidict)/"),
    ("pydantic (parse, dump, copy)", r"^(pydantic|pydantic_core)/"),
    ("fastapi (routing, dependencies, validation)", r"^fastapi/"),
    ("starlette (request, response)", r"^starlette/"),
    ("uvicorn (HTTP server protocol)", r"^(uvicorn|httptools|h11)/"),
    ("prometheus metrics", r"^prometheus_client/"),
    ("structlog JSON logging", r"^structlog/|^streams/logs\.py"),
    ("paystream edge (api_edge)", r"^api_edge/"),
    ("paystream schemas + tables", r"^(tables|schemas)/"),
)
_COMPILED = tuple((name, re.compile(pattern)) for name, pattern in STAGES)
_EDGE_COMPILED = tuple((name, re.compile(pattern)) for name, pattern in EDGE_STAGES)
Compiled = tuple[tuple[str, re.Pattern[str]], ...]
# py-spy frames look like "function (package/module.py:123)": paths are relative to the
# entry of sys.path they were imported from, so a package's frames start with its name.
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^():]+)(?::\d+)?\)$")
UNCLASSIFIED = "event loop / stdlib only"


def _file(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    return match.group("file") if match else frame


def _stage(frames: list[str], stages: Compiled = _COMPILED) -> str:
    for frame in reversed(frames):  # innermost first
        path = _file(frame)
        for name, pattern in stages:
            if pattern.search(path):
                return name
    return UNCLASSIFIED


@dataclass
class Breakdown:
    samples: int = 0
    stages: Counter[str] = field(default_factory=Counter)
    self_frames: Counter[str] = field(default_factory=Counter)

    def as_dict(self, top: int = 15) -> dict[str, Any]:
        def pct(n: int) -> float:
            return round(100 * n / self.samples, 1) if self.samples else 0.0

        return {
            "samples": self.samples,
            "stages_pct": {k: pct(v) for k, v in self.stages.most_common()},
            "top_self_pct": {k: pct(v) for k, v in self.self_frames.most_common(top)},
        }


def breakdown(collapsed: str, *, edge: bool = False) -> Breakdown:
    """Stage shares and top self-time frames of py-spy's collapsed (raw) output; `edge`:
    by the edge's layers (EDGE_STAGES) instead of the worker's."""
    stages = _EDGE_COMPILED if edge else _COMPILED
    result = Breakdown()
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        # The first element is the process/thread label py-spy adds; frames follow.
        frames = [f for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        result.samples += count
        result.stages[_stage(frames, stages)] += count
        result.self_frames[_short(frames[-1])] += count
    return result


def _short(frame: str) -> str:
    """A leaf frame without its line number."""
    match = _FRAME.match(frame.strip())
    if not match:
        return frame
    path = match.group("file")
    return f"{match.group('func')} ({path})"


class Profiler:
    """py-spy recording the given process (and its children) until `stop()`."""

    def __init__(self, pid: int, out: Path, rate: int = 100, *, edge: bool = False) -> None:
        self.pid = pid
        self.out = out
        self.rate = rate
        self.edge = edge
        self.proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return _py_spy() is not None

    def start(self) -> Profiler:
        exe = _py_spy()
        if exe is None:
            raise RuntimeError("py-spy is not installed (pip install -e '.[test]')")
        self.out.parent.mkdir(parents=True, exist_ok=True)
        # --nonblocking: sample without pausing the target, so the profile does not
        # slow down what it measures; --raw: collapsed stacks for `breakdown`.
        self.proc = subprocess.Popen(
            [exe, "record", "--pid", str(self.pid), "--subprocesses", "--nonblocking",
             "--rate", str(self.rate), "--format", "raw", "--output", str(self.out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return self

    def stop(self) -> dict[str, Any]:
        if self.proc is None:
            return {}
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if not self.out.exists():
            err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
            return {"error": f"py-spy wrote no profile: {err[-500:]}"}
        return {"collapsed_stacks": str(self.out),
                **breakdown(self.out.read_text(errors="replace"), edge=self.edge).as_dict()}


def _py_spy() -> str | None:
    local = Path(sys.executable).with_name("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")

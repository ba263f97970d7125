"""Where the local stack keeps jars, data and logs.

Everything lives under one cache directory (default `<repo>/.cache`, overridable with
PAYSTREAM_CACHE_DIR) so a fresh clone needs no system-wide installs beyond a JDK and Maven.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEVSTACK_DIR = Path(__file__).resolve().parent


def cache_dir() -> Path:
    path = Path(os.environ.get("PAYSTREAM_CACHE_DIR", REPO_ROOT / ".cache"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_dir() -> Path:
    """Where running servers keep data, logs and state files (PAYSTREAM_RUN_DIR); separate
    from the jar cache so a test can run the platform in a scratch directory."""
    path = Path(os.environ.get("PAYSTREAM_RUN_DIR", cache_dir()))
    path.mkdir(parents=True, exist_ok=True)
    return path


def logs_dir() -> Path:
    path = run_dir() / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def stack_dir() -> Path:
    path = run_dir() / "stack"
    path.mkdir(parents=True, exist_ok=True)
    return path

"""Fetches server jars from Maven Central through the poms in devstack/maven/.

A marker file records a completed copy so a warm start never calls Maven.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from devstack.paths import DEVSTACK_DIR, cache_dir


class SetupError(RuntimeError):
    """Something the local stack needs is missing; the message says what to install."""


def _require(tool: str, hint: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise SetupError(f"`{tool}` not found on PATH: {hint}")
    return path


def java_bin() -> str:
    return _require("java", "install a JDK 17+ (e.g. `apt-get install openjdk-17-jdk-headless`)")


def jar_dir(component: str) -> Path:
    """Directory holding the runtime jars of `component` (kafka, elasticmq), fetching once."""
    target = cache_dir() / "jars" / component
    marker = target / ".complete"
    if marker.exists():
        return target
    mvn = _require("mvn", "install Apache Maven (e.g. `apt-get install maven`)")
    pom = DEVSTACK_DIR / "maven" / component / "pom.xml"
    target.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
         f"-DoutputDirectory={target}", "-DincludeScope=runtime"],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        raise SetupError(f"maven could not fetch {component} jars:\n{proc.stdout}\n{proc.stderr}")
    marker.write_text("ok\n")
    return target


def classpath(component: str) -> str:
    return str(jar_dir(component) / "*")

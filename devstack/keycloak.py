"""A real Keycloak (Quarkus distribution from Maven Central) with the paystream realm.

The distribution zip is fetched and unpacked once into `<cache>/keycloak/` through
`devstack/maven/keycloak/pom.xml`; each server then runs `kc.sh start-dev` on loopback with
an in-memory database, importing `devstack/keycloak/paystream-realm.json` fresh every start
(so an edited realm file can never be shadowed by a realm persisted from an older run).
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Final

from devstack.jars import SetupError, java_bin
from devstack.paths import DEVSTACK_DIR, cache_dir, logs_dir
from devstack.ports import free_port
from devstack.process import ManagedProcess

KEYCLOAK_POM: Final = DEVSTACK_DIR / "maven" / "keycloak" / "pom.xml"
REALM_FILE: Final = DEVSTACK_DIR / "keycloak" / "paystream-realm.json"
REALM: Final = "paystream"
# Keycloak shares the machine with Kafka, ElasticMQ and the Python workers; its default of
# 70% of RAM as max heap would let it crowd them out.
KEYCLOAK_HEAP: Final = "-Xms64m -Xmx768m"
_POM_NS: Final = {"m": "http://maven.apache.org/POM/4.0.0"}


def keycloak_version(pom: Path = KEYCLOAK_POM) -> str:
    """The keycloak-quarkus-dist version pinned in the pom."""
    root = ET.parse(pom).getroot()
    for dep in root.iterfind("m:dependencies/m:dependency", _POM_NS):
        if dep.findtext("m:artifactId", namespaces=_POM_NS) == "keycloak-quarkus-dist":
            version = dep.findtext("m:version", namespaces=_POM_NS)
            if version:
                return version.strip()
    raise SetupError(f"{pom} pins no org.keycloak:keycloak-quarkus-dist version")


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    # Parallel test sessions share one cache: only one may unpack or augment at a time.
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def keycloak_home() -> Path:
    """The unpacked distribution, fetching it with Maven on first use."""
    version = keycloak_version()
    root = cache_dir() / "keycloak"
    home = root / f"keycloak-{version}"
    if (home / "bin" / "kc.sh").exists():
        return home
    with _file_lock(root / ".unpack.lock"):
        if (home / "bin" / "kc.sh").exists():
            return home
        mvn = shutil.which("mvn")
        if mvn is None:
            raise SetupError("`mvn` not found on PATH: install Maven (apt-get install maven)")
        proc = subprocess.run(
            [mvn, "-q", "-B", "-f", str(KEYCLOAK_POM), "dependency:unpack-dependencies",
             # Only the zip itself: its pom drags in hundreds of jars we must not explode.
             "-DexcludeTransitive=true", "-DincludeTypes=zip",
             f"-DoutputDirectory={root}",
             # Markers would otherwise land in devstack/maven/keycloak/target in the repo.
             f"-DmarkersDirectory={root / '.markers'}",
             "-DoverWriteIfNewer=true"],
            capture_output=True, text=True, check=False,
        )
        if proc.returncode != 0 or not (home / "bin" / "kc.sh").exists():
            raise SetupError(
                f"maven could not fetch Keycloak {version}:\n{proc.stdout[-3000:]}\n"
                f"{proc.stderr[-3000:]}"
            )
        (home / "bin" / "kc.sh").chmod(0o755)
    return home


@dataclass
class KeycloakServer:
    """`with KeycloakServer() as kc:` runs Keycloak on 127.0.0.1 until the block ends."""

    port: int = field(default_factory=free_port)
    management_port: int = field(default_factory=free_port)
    realm_file: Path = REALM_FILE
    realm: str = REALM
    admin_username: str = "admin"
    # Random per run: the bootstrap admin only lives as long as this in-memory server.
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(18), repr=False)
    process: ManagedProcess | None = None
    started_in_s: float = 0.0
    home: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/realms/{self.realm}"

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/token"

    @property
    def log_path(self) -> Path:
        return logs_dir() / f"keycloak-{self.port}.log"

    def start(self, timeout: float = 300.0) -> None:
        began = time.monotonic()
        java_bin()  # fail early with the install hint rather than inside kc.sh
        self.home = keycloak_home()
        import_dir = self.home / "data" / "import"
        import_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.realm_file, import_dir / self.realm_file.name)
        argv = [
            str(self.home / "bin" / "kc.sh"), "start-dev",
            "--import-realm",
            "--db=dev-mem",
            "--http-host=127.0.0.1",
            f"--http-port={self.port}",
            f"--http-management-port={self.management_port}",
        ]
        env = {
            "KC_BOOTSTRAP_ADMIN_USERNAME": self.admin_username,
            "KC_BOOTSTRAP_ADMIN_PASSWORD": self.admin_password,
            "JAVA_OPTS_KC_HEAP": KEYCLOAK_HEAP,
        }
        self.process = ManagedProcess("keycloak", argv, self.log_path, env=env, cwd=self.home)
        # start-dev re-runs the Quarkus build when its options change, writing into the
        # shared distribution; serialize that phase across concurrent starts.
        with _file_lock(self.home.parent / ".start.lock"):
            self.process.start()
            self._wait_ready(timeout - (time.monotonic() - began))
        self.started_in_s = time.monotonic() - began

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        url = f"{self.issuer}/.well-known/openid-configuration"
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            assert self.process is not None
            if not self.process.alive():
                raise SetupError(
                    f"keycloak exited during start-up (log {self.log_path}):\n"
                    f"{self.process.tail()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    document = json.load(response)
                if document.get("issuer") == self.issuer:
                    return
                last_error = f"unexpected issuer {document.get('issuer')!r}"
            except (OSError, urllib.error.URLError, ValueError) as exc:
                last_error = repr(exc)
            time.sleep(0.5)
        tail = self.process.tail() if self.process else ""
        self.stop()
        raise SetupError(
            f"keycloak not ready after {timeout:.0f}s ({last_error}); log {self.log_path}:\n{tail}"
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout=30.0)
            self.process = None

    def __enter__(self) -> KeycloakServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main() -> None:
    """`python -m devstack.keycloak`: run until Ctrl-C (port from PAYSTREAM_KEYCLOAK_PORT)."""
    port = int(os.environ.get("PAYSTREAM_KEYCLOAK_PORT", "8180"))
    with KeycloakServer(port=port) as server:
        print(f"keycloak {server.issuer} ready in {server.started_in_s:.1f}s "
              f"(admin user {server.admin_username}; log {server.log_path})")
        try:
            while server.process is not None and server.process.alive():
                time.sleep(1)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()

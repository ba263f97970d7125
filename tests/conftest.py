"""Session fixtures for the real servers every integration test uses.

Order of preference: servers named by KAFKA_BOOTSTRAP_SERVERS / SQS_ENDPOINT_URL; else the
project's own local stack (JDK + Maven); else testcontainers when a Docker engine answers;
else the run fails saying what to install. Nothing is skipped.

Also `no_credentials`, for the SQS client tests of both the edge and the bridge, and the
Hypothesis profile every property test runs under.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from devstack.jars import SetupError
from devstack.kafka import KafkaServer
from devstack.keycloak import KeycloakServer
from devstack.sqs import ElasticMQServer

# Property tests assert rules, not speed: this shared machine runs up to 4x slower at
# times, and Hypothesis's per-example deadline and its "too slow" check then fail a correct
# test (seen on tests/gateway/test_sdk_xml.py).
settings.register_profile("shared-machine", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("shared-machine")

INSTALL_HINT = (
    "the integration tests need Apache Kafka and an SQS server. Either set "
    "KAFKA_BOOTSTRAP_SERVERS and SQS_ENDPOINT_URL, or install a JDK 17+ and Maven so the "
    "project can start its own (`apt-get install openjdk-17-jdk-headless maven`), or run a "
    "Docker engine for testcontainers."
)


def _local_stack_possible() -> bool:
    return shutil.which("java") is not None and shutil.which("mvn") is not None


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env().ping()
        return True
    except Exception:  # no engine, no socket, no permission: all mean "not available"
        return False


@pytest.fixture(scope="session")
def stack_tmp() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="paystream-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def kafka_bootstrap(stack_tmp: Path) -> Iterator[str]:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield os.environ["KAFKA_BOOTSTRAP_SERVERS"]
        return
    with ExitStack() as stack:
        if _local_stack_possible():
            server = KafkaServer(stack_tmp / "kafka")
            server.start()
            stack.callback(server.stop)
            yield server.bootstrap
        elif _docker_answers():
            from testcontainers.kafka import KafkaContainer

            container = stack.enter_context(KafkaContainer("apache/kafka:4.0.1"))
            yield container.get_bootstrap_server()
        else:
            pytest.fail(INSTALL_HINT, pytrace=False)


@pytest.fixture(scope="session")
def sqs_endpoint(stack_tmp: Path) -> Iterator[str]:
    if os.environ.get("SQS_ENDPOINT_URL"):
        yield os.environ["SQS_ENDPOINT_URL"]
        return
    with ExitStack() as stack:
        if _local_stack_possible():
            server = ElasticMQServer(stack_tmp / "elasticmq")
            server.start()
            stack.callback(server.stop)
            yield server.endpoint_url
        elif _docker_answers():
            from testcontainers.core.container import DockerContainer
            from testcontainers.core.waiting_utils import wait_for_logs

            image = "softwaremill/elasticmq-native:1.6.14"
            container = DockerContainer(image).with_exposed_ports(9324)
            stack.enter_context(container)
            wait_for_logs(container, "started")
            yield f"http://{container.get_container_host_ip()}:{container.get_exposed_port(9324)}"
        else:
            pytest.fail(INSTALL_HINT, pytrace=False)


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing for botocore's credential chain to find, so calls to a local endpoint go
    unsigned, whatever the machine running the tests has configured."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="session")
def keycloak() -> Iterator[KeycloakServer]:
    """A real Keycloak with the repository's realm, shared by the tests that need one.

    Never skipped: when it cannot start (no JDK, no Maven, no first download) the tests
    that use it fail and say why."""
    server = KeycloakServer()
    try:
        server.start()
    except SetupError as exc:
        pytest.fail(f"could not start Keycloak for the real-issuer tests: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()

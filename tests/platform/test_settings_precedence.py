"""One precedence rule for the edge, the bridge and the worker: the service's own variable
wins over the shared one, which wins over a default that points at the local stack."""

from __future__ import annotations

import pytest
from pydantic_settings import BaseSettings

from api_edge.settings import EdgeSettings
from bridge_sqs.settings import BridgeSettings
from streams.settings import LOCAL_KAFKA, LOCAL_REGION, LOCAL_SQS, WorkerSettings

SHARED = ("KAFKA_BOOTSTRAP_SERVERS", "SQS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION",
          "PAYSTREAM_PARTITIONS")
SERVICES: dict[str, type[BaseSettings]] = {
    "PAYSTREAM_EDGE_": EdgeSettings,
    "PAYSTREAM_BRIDGE_": BridgeSettings,
    "PAYSTREAM_WORKER_": WorkerSettings,
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name in SHARED or name.startswith(tuple(SERVICES)):
            monkeypatch.delenv(name)


@pytest.mark.parametrize("prefix", list(SERVICES))
def test_the_services_own_kafka_variable_wins_over_the_shared_one(
    prefix: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = SERVICES[prefix]
    assert model().kafka_bootstrap_servers == LOCAL_KAFKA  # type: ignore[attr-defined]
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "shared:9092")
    assert model().kafka_bootstrap_servers == "shared:9092"  # type: ignore[attr-defined]
    monkeypatch.setenv(f"{prefix}KAFKA_BOOTSTRAP_SERVERS", "own:9092")
    assert model().kafka_bootstrap_servers == "own:9092"  # type: ignore[attr-defined]


@pytest.mark.parametrize("model", [EdgeSettings, BridgeSettings])
def test_sqs_endpoint_and_region_default_to_the_local_stack(
    model: type[EdgeSettings] | type[BridgeSettings], monkeypatch: pytest.MonkeyPatch,
) -> None:
    prefix = "PAYSTREAM_EDGE_" if model is EdgeSettings else "PAYSTREAM_BRIDGE_"
    settings = model()
    assert settings.sqs_endpoint_url == LOCAL_SQS
    assert settings.aws_region == LOCAL_REGION
    monkeypatch.setenv("SQS_ENDPOINT_URL", "http://shared:9324")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert (model().sqs_endpoint_url, model().aws_region) == ("http://shared:9324", "eu-west-1")
    monkeypatch.setenv(f"{prefix}SQS_ENDPOINT_URL", "http://own:9324")
    monkeypatch.setenv(f"{prefix}AWS_REGION", "eu-central-1")
    assert (model().sqs_endpoint_url, model().aws_region) == ("http://own:9324", "eu-central-1")
    # Set but empty: AWS's regional endpoint, never by accident.
    monkeypatch.setenv(f"{prefix}SQS_ENDPOINT_URL", "")
    assert model().sqs_endpoint_url is None


def test_partitions_are_shared_by_worker_and_bridge_and_the_bridge_ignores_the_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert BridgeSettings().partitions == WorkerSettings().partitions
    monkeypatch.setenv("PAYSTREAM_PARTITIONS", "6")
    assert BridgeSettings().partitions == WorkerSettings().partitions == 6
    monkeypatch.setenv("PAYSTREAM_WORKER_PARTITIONS", "8")
    assert WorkerSettings().partitions == 8
    assert BridgeSettings().partitions == 6
    monkeypatch.setenv("PAYSTREAM_BRIDGE_PARTITIONS", "2")
    assert BridgeSettings().partitions == 2


def test_explicit_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYSTREAM_BRIDGE_KAFKA_BOOTSTRAP_SERVERS", "own:9092")
    assert BridgeSettings(kafka_bootstrap_servers="arg:9092").kafka_bootstrap_servers == (
        "arg:9092")
    assert WorkerSettings(partitions=3).partitions == 3

"""The edge under test: Payments-A and Payments-B in-process (httpx ASGI transports, B
reached from A the same way), against the dev issuer, a fake of the worker's web views,
and the session's real ElasticMQ (a queue of the test's own) and Kafka.

Fixtures live here (not in conftest.py) so other suites (tests/security) use them too.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from edge_helpers import Edge, QueueReader
from pydantic import SecretStr

from api_edge.auth import AuthSettings
from api_edge.facade import FacadeDeps, create_facade_app, service_token_source
from api_edge.orchestrator import OrchestratorDeps, create_orchestrator_app
from api_edge.request_limits import RateLimits
from api_edge.settings import EdgeSettings
from api_edge.token_cache import CachingTokenVerifier
from api_edge.upstream import HttpxUpstream
from devstack.bench.fake_views import FakeWorkerViews, run_fake_views
from devstack.dev_issuer import DevIssuer
from devstack.dev_issuer_server import run_dev_issuer
from devstack.dev_realm import ORCHESTRATOR_CLIENT_SECRET
from devstack.sqs import sqs_client
from gateway.disputes import DisputePort


@pytest.fixture(scope="session")
def edge_issuer() -> Iterator[DevIssuer]:
    with run_dev_issuer() as issuer:
        yield issuer


@pytest.fixture(scope="session")
def fake_views() -> Iterator[tuple[FakeWorkerViews, str]]:
    with run_fake_views() as served:
        yield served


@pytest.fixture(scope="session")
def edge_queue_url(sqs_endpoint: str) -> str:
    # A queue of our own: other suites' bridges consume payment-requests.fifo.
    name = f"edge-test-{uuid.uuid4().hex[:8]}.fifo"
    resp = sqs_client(sqs_endpoint).create_queue(
        QueueName=name, Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "false"})
    return str(resp["QueueUrl"])


@pytest.fixture(scope="session")
def edge_settings(edge_issuer: DevIssuer, fake_views: tuple[FakeWorkerViews, str],
                  sqs_endpoint: str, kafka_bootstrap: str, edge_queue_url: str
                  ) -> EdgeSettings:
    return EdgeSettings(
        worker_url=fake_views[1], sqs_endpoint_url=sqs_endpoint,
        sqs_queue_name=edge_queue_url.rsplit("/", 1)[-1],
        kafka_bootstrap_servers=kafka_bootstrap,
        service_client_secret=SecretStr(ORCHESTRATOR_CLIENT_SECRET),
        auth=AuthSettings(issuer=edge_issuer.issuer),
        # The suites share two dev shoppers; the flood test sets its own low limit.
        rate_limit_per_subject="10000/second",
    )


@pytest.fixture(scope="session")
async def edge(edge_settings: EdgeSettings, edge_issuer: DevIssuer,
               fake_views: tuple[FakeWorkerViews, str], sqs_endpoint: str,
               edge_queue_url: str, kafka_bootstrap: str) -> AsyncIterator[Edge]:
    async with start_edge(edge_settings, edge_issuer, fake_views, sqs_endpoint,
                          edge_queue_url, kafka_bootstrap) as started:
        yield started


@contextlib.asynccontextmanager
async def start_edge(edge_settings: EdgeSettings, edge_issuer: DevIssuer,
                     fake_views: tuple[FakeWorkerViews, str], sqs_endpoint: str,
                     edge_queue_url: str, kafka_bootstrap: str,
                     b_deps: OrchestratorDeps | None = None,
                     disputes: DisputePort | None = None) -> AsyncIterator[Edge]:
    """A fresh A+B pair (a restart: nothing remembered in memory); `disputes`: the dispute
    port A's dispute routes use (default: the one `GatewaySettings` configures)."""
    b_deps = b_deps or OrchestratorDeps.from_settings(edge_settings)
    b_app = create_orchestrator_app(edge_settings, deps=b_deps)
    # raise_app_exceptions=False: a 500 is answered as a real server would answer it.
    b_client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=b_app, raise_app_exceptions=False),
        base_url="http://orchestrator.test")
    a_deps = FacadeDeps(
        verifier=CachingTokenVerifier(edge_settings.auth),
        tokens=service_token_source(edge_settings), orchestrator=HttpxUpstream(b_client),
        limits=RateLimits(edge_settings.rate_limit_per_subject,
                          edge_settings.rate_limit_per_client),
        disputes=disputes)
    a_app = create_facade_app(edge_settings, deps=a_deps)
    async with b_app.router.lifespan_context(b_app), a_app.router.lifespan_context(a_app):
        deadline = time.monotonic() + 60
        while True:
            try:
                await b_deps.queue.check()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.3)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=a_app, raise_app_exceptions=False),
            base_url="http://edge.test",
        ) as public, httpx.AsyncClient(
            transport=httpx.ASGITransport(app=b_app, raise_app_exceptions=False),
            base_url="http://orchestrator.test",
        ) as internal:
            yield Edge(public=public, internal=internal, issuer=edge_issuer,
                       fake=fake_views[0], queue=QueueReader(sqs_endpoint, edge_queue_url),
                       kafka_bootstrap=kafka_bootstrap, b_deps=b_deps, public_app=a_app)

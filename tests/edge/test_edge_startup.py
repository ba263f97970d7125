"""Start-up and header rules that need no running services."""

from __future__ import annotations

import uuid

import pytest

from api_edge.facade import service_token_source
from api_edge.http_common import check_idempotency_key
from api_edge.problems import ProblemException
from api_edge.settings import EdgeSettings


def test_missing_service_secret_is_a_start_up_error_naming_the_variable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAYSTREAM_EDGE_SERVICE_CLIENT_SECRET", raising=False)
    settings = EdgeSettings()
    assert settings.service_client_secret is None
    with pytest.raises(RuntimeError, match="PAYSTREAM_EDGE_SERVICE_CLIENT_SECRET"):
        service_token_source(settings)


@pytest.mark.parametrize("key", [str(uuid.uuid4()), uuid.uuid4().hex, "a", "k" * 64])
def test_idempotency_key_accepts_the_wire_rule(key: str) -> None:
    assert check_idempotency_key(key) == key


@pytest.mark.parametrize(("key", "slug"), [
    (None, "idempotency-key-missing"), ("  ", "idempotency-key-missing"),
    ("k" * 65, "idempotency-key-invalid"), ("has.dot", "idempotency-key-invalid"),
    ("no spaces", "idempotency-key-invalid"),
])
def test_idempotency_key_refusals(key: str | None, slug: str) -> None:
    with pytest.raises(ProblemException) as refused:
        check_idempotency_key(key)
    assert refused.value.status == 400
    assert refused.value.type.endswith(slug)

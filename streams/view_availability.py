"""When the worker views may answer from their tables, and the 503 they give otherwise.

A table that is still being restored from its changelog (worker start, restart, rebalance)
holds only part of its records: answering "not found" from it would tell the edge that an
existing order or card does not exist, and the edge would refuse the payment for good. So
while this worker rebalances or recovers, and while the owner of a key is unknown or
unreachable, every view answers 503 with Retry-After (problem+json): retryable, never
final. A 404 (or an answer built from a record) only ever comes from a recovered table.
"""

from __future__ import annotations

from typing import Any, Final, cast

import faust
from faust.types import AppT
from faust.web import Response, View

from streams.health import is_ready

# The views come back within a second or two of a rebalance on a small table; the edge
# asks again (or asks another worker) after this many seconds.
RETRY_AFTER_S: Final = 1
PROBLEM_JSON: Final = "application/problem+json"


def unavailable_response(view: View, title: str, detail: str) -> Response:
    """503, retryable: problem+json with Retry-After."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": 503,
                            "detail": detail, "retry_after": RETRY_AFTER_S}
    return view.json(body, status=503, content_type=PROBLEM_JSON,
                     headers={"Retry-After": str(RETRY_AFTER_S)})


def recovery_refusal(app: faust.App | AppT, view: View) -> Response | None:
    """A 503 while this worker's tables are not fully recovered, else None."""
    # actives_ready is faust's own "active partitions in sync" flag; is_ready adds the
    # assignment, the rebalance and the recovery state.
    if is_ready(cast(faust.App, app)) and app.tables.actives_ready:
        return None
    return unavailable_response(view, "Tables recovering",
                       "this worker is rebalancing or restoring its tables; retry shortly")


def keep_retryable(response: Response) -> Response:
    """A 503 forwarded from the key's owner loses its headers on the way (faust's router
    copies only status and body): put Retry-After back."""
    if response.status == 503 and "Retry-After" not in response.headers:
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response

"""The worker's `/reconcile` view: the last reconcile pass, or a pass run now.

GET answers the last report of this worker; POST runs a pass over the partitions this
worker owns (`?repair=1` to carry out the repairs, `?since=ISO-8601` to check only
orders whose ledger changed since then). With several workers each answers for its own
partitions; `paystream reconcile` asks every worker it is given.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import faust
from faust.web import Request, Response, View

from agents.reconciler import Reconciler
from streams.view_auth import ViewGuard


def register_reconcile_view(app: faust.App, reconciler: Reconciler, guard: ViewGuard) -> None:
    # Read scope for both: a pass repairs only what the periodic pass repairs anyway.
    @app.page("/reconcile")
    class ReconcileView(View):
        async def get(self, request: Request) -> Response:
            refused = await guard.refusal(self, request, "orders:read")
            return refused or self.json(reconciler.last_report)

        async def post(self, request: Request) -> Response:
            refused = await guard.refusal(self, request, "orders:read")
            if refused is not None:
                return refused
            query: Any = request.query
            repair = query.get("repair", "0") in ("1", "true", "yes")
            since_text = query.get("since")
            try:
                since = datetime.fromisoformat(since_text) if since_text else None
            except ValueError:
                return self.json({"type": "about:blank", "title": "Bad since",
                                  "status": 400,
                                  "detail": "since must be an ISO-8601 time with offset"},
                                 status=400, content_type="application/problem+json")
            if since is not None and since.tzinfo is None:
                return self.json({"type": "about:blank", "title": "Bad since", "status": 400,
                                  "detail": "since needs a UTC offset"}, status=400,
                                 content_type="application/problem+json")
            return self.json(await reconciler.run_pass(repair=repair, since=since))

"""The dispute routes run through the edge suite's in-process A+B pair (tests/edge)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "edge"))

from edge_fixtures import edge_issuer, edge_queue_url, edge_settings, fake_views

__all__ = ["edge_issuer", "edge_queue_url", "edge_settings", "fake_views"]

"""The edge suite's fixtures (shared with tests/security): see edge_fixtures."""

from edge_fixtures import edge, edge_issuer, edge_queue_url, edge_settings, fake_views

__all__ = ["edge", "edge_issuer", "edge_queue_url", "edge_settings", "fake_views"]

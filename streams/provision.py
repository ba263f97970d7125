"""Creates paystream's topics up front with the intended partition count.

Faust creates only its internal topics (changelogs); a source topic that a producer
auto-creates gets the broker default partition count, which would break the
co-partitioning of tables with their streams. So every service that touches a topic
first makes sure all of them exist as declared.
"""

from __future__ import annotations

import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from streams.channels import ALL_TOPICS


async def ensure_topics(bootstrap: str, partitions: int, replication_factor: int = 1,
                        names: tuple[str, ...] = ALL_TOPICS) -> list[str]:
    """Create the missing topics; returns the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            # Another service may have created them first.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [NewTopic(n, partitions, replication_factor) for n in missing])
        return missing
    finally:
        await admin.close()

"""A minimal Faust app with a RocksDB table, run as a real worker by the foundation test."""

from __future__ import annotations

import os
from typing import Any

import faust
from aiohttp.web import Response

app = faust.App(
    "foundation-counter",
    broker=f"kafka://{os.environ['KAFKA_BOOTSTRAP_SERVERS']}",
    store="rocksdb://",
    datadir=os.environ["FAUST_DATADIR"],
    topic_partitions=4,
    topic_replication_factor=1,
    web_host="127.0.0.1",
    web_port=int(os.environ["FAUST_WEB_PORT"]),
)
words = app.topic(os.environ["COUNTER_TOPIC"], key_type=str, value_type=str, partitions=4)
counts = app.Table("word-counts", default=int, partitions=4)


@app.agent(words)
async def count(stream: Any) -> None:
    async for word in stream:
        counts[word] += 1


@app.page("/counts/{word}")
async def get_count(web: Any, request: Any, word: str) -> Response:
    return web.json({"word": word, "count": counts.get(word, 0)})

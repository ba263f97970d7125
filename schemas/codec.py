"""The wire encoding of every model paystream publishes: compact JSON, UTF-8.

Topics and queues carry raw bytes (faust and SQS never see a model), so producers encode
with `json_bytes` and consumers decode with the model's own `model_validate_json`.
"""

from __future__ import annotations

from pydantic import BaseModel


def json_bytes(model: BaseModel) -> bytes:
    """The wire form of a model: compact JSON, UTF-8."""
    return model.model_dump_json().encode("utf-8")

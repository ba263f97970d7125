"""Amazon SQS over its JSON protocol, on the keep-alive HTTP/1.1 client, signed with
botocore's SigV4: the one SQS client of the edge (sends) and the bridge (receives, deletes,
dead-letters).

Why not boto3: it is synchronous, so the edge ran it on threads, and at a few hundred
requests/s those threads queued for the GIL behind the event loop: a SendMessageBatch that
takes ~3 ms alone took tens of milliseconds under load, and the senders became the
bottleneck of Payments-B. This client does only the actions paystream needs, non-blocking,
and signs every request with botocore's own SigV4 signer and credential chain
(environment, profile, instance role), so it talks to real SQS as well as to ElasticMQ.
Region and endpoint are the caller's; AWS_CA_BUNDLE is honoured for TLS.

Why not aiohttp (its client before issue 16): one SQS call is one small POST and one small
JSON answer on a pooled connection, and aiohttp's client was 13 % of Payments-B's CPU at
300 checkouts/s. `streams.keepalive_http` does it with one `write` and a C parser, and
does TLS with the same default context (or AWS_CA_BUNDLE's). The aiohttp session had
`trust_env=False`, so no proxy was ever used and none is lost.

What a failure means (`SqsError.maybe_applied`), for the callers' choices:
- `Unreachable`, not applied: nothing was sent (refused, unreachable, no connection or
  no free one in time).
- `NoAnswer`, maybe applied: the request was written and no whole, parseable answer came
  (timeout, dropped, garbled). So is any error after an attempt that may have landed, and
  a 5xx (SQS may have acted before failing).
- an SQS error code with its HTTP status (4xx: refused, not applied).
- `InvalidResponse` with a 2xx status, maybe applied: processed, but its answer is not a
  JSON object (aiohttp's version returned it as an empty success). Not retried.
Every action is retried once on `Unreachable`, `NoAnswer`, 429 and 5xx, as with aiohttp:
paystream's calls are safe to repeat within SQS's 5-minute deduplication window (its sends
carry a MessageDeduplicationId, deletes a receipt handle; a receive that timed out only
hides its messages until their visibility timeout; the rest only read).
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
from typing import Any
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials
from botocore.session import get_session

from streams.keepalive_http import (
    KeepAliveHttp,
    MaybeProcessedError,
    NotSentError,
    Origin,
)

_JSON = "application/x-amz-json-1.0"
# Retried once: a SendMessageBatch retried with the same MessageDeduplicationId is dropped
# by SQS itself within five minutes, so a retry never enqueues twice.
_ATTEMPTS = 2
_RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# aiohttp's keep-alive time, which this client had before: below the idle close of
# ElasticMQ (60 s) and of AWS's endpoints, so a call seldom picks a connection the server
# is closing (and when it does, the retry below covers it).
IDLE_SECONDS = 15.0


class SqsError(Exception):
    """SQS answered with an error, or could not be reached. `maybe_applied`: the request
    (or an earlier attempt of it) may have taken effect."""

    def __init__(self, code: str, message: str, status: int | None = None, *,
                 maybe_applied: bool = False) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.maybe_applied = maybe_applied


class SqsJsonClient:
    def __init__(self, endpoint_url: str | None, region: str, *, timeout_seconds: float = 5.0,
                 max_connections: int = 16) -> None:
        self.endpoint_url = (endpoint_url or f"https://sqs.{region}.amazonaws.com").rstrip("/")
        self.region = region
        parts = urlsplit(self.endpoint_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) SQS endpoint: {self.endpoint_url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._origin: Origin | None = None
        self._target = parts.path + "/"
        # Both attempts together stay within the caller's timeout.
        self._per_attempt = timeout_seconds / _ATTEMPTS
        self._connect_timeout = min(self._per_attempt, 2.0)
        self._max_connections = max_connections
        self._pool: KeepAliveHttp | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._custom_endpoint = endpoint_url is not None
        self._credentials: Credentials | None = None
        self._credentials_resolved = False

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
            self._pool = None
            # Lets the transports close before the loop goes away.
            await asyncio.sleep(0)

    async def get_queue_url(self, queue_name: str) -> str:
        answer = await self.call("GetQueueUrl", {"QueueName": queue_name})
        return str(answer["QueueUrl"])

    async def get_queue_attributes(self, queue_url: str, names: list[str]) -> dict[str, str]:
        answer = await self.call("GetQueueAttributes",
                                 {"QueueUrl": queue_url, "AttributeNames": names})
        return dict(answer.get("Attributes", {}))

    async def send_message_batch(self, queue_url: str,
                                 entries: list[dict[str, Any]]) -> dict[str, Any]:
        return await self.call("SendMessageBatch", {"QueueUrl": queue_url, "Entries": entries})

    async def send_message(self, queue_url: str, body: str, *, group_id: str | None = None,
                           dedup_id: str | None = None,
                           attributes: dict[str, str] | None = None) -> str:
        """One message; string message attributes. Returns its message id."""
        payload: dict[str, Any] = {"QueueUrl": queue_url, "MessageBody": body}
        if group_id is not None:
            payload["MessageGroupId"] = group_id
        if dedup_id is not None:
            payload["MessageDeduplicationId"] = dedup_id
        if attributes:
            payload["MessageAttributes"] = {
                name: {"DataType": "String", "StringValue": value}
                for name, value in attributes.items()}
        answer = await self.call("SendMessage", payload)
        return str(answer["MessageId"])

    async def receive_messages(self, queue_url: str, *, max_messages: int = 10,
                               wait_seconds: int = 0,
                               attribute_names: tuple[str, ...] = ("All",),
                               message_attribute_names: tuple[str, ...] = ("All",),
                               ) -> list[dict[str, Any]]:
        """Up to `max_messages`, long-polling up to `wait_seconds`; each a dict with
        MessageId, ReceiptHandle, Body, Attributes and MessageAttributes as SQS names them."""
        answer = await self.call("ReceiveMessage", {
            "QueueUrl": queue_url, "MaxNumberOfMessages": max_messages,
            "WaitTimeSeconds": wait_seconds,
            "AttributeNames": list(attribute_names),
            "MessageSystemAttributeNames": list(attribute_names),
            "MessageAttributeNames": list(message_attribute_names),
        }, wait_seconds=wait_seconds)
        messages = answer.get("Messages") or []
        return [dict(m) for m in messages]

    async def delete_message_batch(self, queue_url: str,
                                   receipt_handles: list[str]) -> list[dict[str, Any]]:
        """Delete up to ten messages; returns the entries SQS could not delete."""
        answer = await self.call("DeleteMessageBatch", {
            "QueueUrl": queue_url,
            "Entries": [{"Id": str(i), "ReceiptHandle": handle}
                        for i, handle in enumerate(receipt_handles)]})
        return [dict(f) for f in answer.get("Failed") or []]

    async def call(self, action: str, payload: dict[str, Any], *,
                   wait_seconds: float = 0.0) -> dict[str, Any]:
        """`wait_seconds`: how long the server may hold the request (a long poll), added to
        each attempt's timeout."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        landed: SqsError | None = None  # the first failure that may have taken effect
        last: SqsError | None = None
        for _ in range(_ATTEMPTS):
            try:
                return await self._once(action, body, wait_seconds)
            except SqsError as exc:
                if exc.maybe_applied and landed is None:
                    landed = exc
                # Once an attempt may have landed, no later failure may say otherwise.
                exc.maybe_applied = landed is not None
                if exc.status is not None and exc.status not in _RETRYABLE_STATUSES:
                    raise
                last = exc
        assert last is not None
        if landed is not None and last.code == "Unreachable":
            raise landed  # the retry's "never sent" would hide that the first one was
        raise last

    async def _once(self, action: str, body: bytes, wait_seconds: float) -> dict[str, Any]:
        headers = self._signed_headers(action, body)
        try:
            answer = await self._pool_for_loop().request(
                "POST", self._target, headers, body,
                timeout=self._per_attempt + wait_seconds)
        except NotSentError as exc:
            raise SqsError("Unreachable", f"{type(exc).__name__}: {exc}") from None
        except MaybeProcessedError as exc:
            raise SqsError("NoAnswer", f"{type(exc).__name__}: {exc}",
                           maybe_applied=True) from None
        status = answer.status
        try:
            parsed = json.loads(answer.body) if answer.body else {}
        except ValueError:
            parsed = None
        if status >= 300:
            if not isinstance(parsed, dict):
                parsed = {"__type": "InvalidResponse",
                          "message": answer.body[:200].decode("utf-8", "replace")}
            code = str(parsed.get("__type", f"HTTP{status}")).rsplit("#", 1)[-1]
            message = str(parsed.get("message") or parsed.get("Message") or "")
            raise SqsError(code, message, status, maybe_applied=status >= 500)
        if not isinstance(parsed, dict):
            # A success whose answer cannot be read: it was processed, its result is lost.
            raise SqsError("InvalidResponse", "expected a JSON object", status,
                           maybe_applied=True)
        return parsed

    def _signed_headers(self, action: str, body: bytes) -> dict[str, str]:
        headers = {"Content-Type": _JSON, "X-Amz-Target": f"AmazonSQS.{action}"}
        credentials = self._frozen_credentials()
        if credentials is None:
            return headers
        request = AWSRequest(method="POST", url=self.endpoint_url + "/", data=body,
                             headers=headers)
        SigV4Auth(credentials, "sqs", self.region).add_auth(request)
        return {k: v.decode() if isinstance(v, bytes) else str(v)
                for k, v in request.headers.items()}

    def _frozen_credentials(self) -> ReadOnlyCredentials | None:
        """botocore's chain; refreshable credentials (roles) renew themselves. With none in
        the chain, a custom endpoint (a local server such as ElasticMQ, which checks no
        signature) gets unsigned requests; AWS's own endpoint is an error.

        The chain is walked once, also when it finds nothing for a custom endpoint: each
        walk builds a botocore session and asks every provider (files, environment,
        instance metadata), 13-20 ms here, and done per SendMessageBatch it was most
        of an idle checkout's time. For AWS's endpoint a miss is asked again next call (a
        role may not be attached yet)."""
        if not self._credentials_resolved:
            self._credentials = get_session().get_credentials()
            self._credentials_resolved = self._credentials is not None or self._custom_endpoint
        if self._credentials is None:
            if self._custom_endpoint:
                return None
            raise SqsError("NoCredentials", "no AWS credentials found for SQS")
        return self._credentials.get_frozen_credentials()

    def _pool_for_loop(self) -> KeepAliveHttp:
        # Connections belong to the loop that made them: a client made at start-up (or
        # used by several `asyncio.run`s) gets a pool in each loop that uses it.
        loop = asyncio.get_running_loop()
        if self._pool is None or self._loop is not loop:
            if self._origin is None:
                self._origin = Origin(self._host, self._port,
                                      _tls_context() if self._https else None)
            self._pool = KeepAliveHttp(
                self._origin, max_connections=self._max_connections,
                connect_timeout=self._connect_timeout, answer_timeout=self._per_attempt,
                idle_seconds=IDLE_SECONDS)
            self._loop = loop
        return self._pool


def _tls_context() -> ssl.SSLContext:
    """The CA bundle botocore would use, where one is configured (corporate TLS)."""
    bundle = os.environ.get("AWS_CA_BUNDLE")
    return ssl.create_default_context(cafile=bundle or None)

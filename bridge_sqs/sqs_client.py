"""Amazon SQS over its JSON protocol, on aiohttp, signed with botocore's SigV4: the one
SQS client of the edge (sends) and the bridge (receives, deletes, dead-letters).

Why not boto3: it is synchronous, so the edge ran it on threads, and at a few hundred
requests/s those threads queued for the GIL behind the event loop: a SendMessageBatch that
takes ~3 ms alone took tens of milliseconds under load, and the senders became the
bottleneck of Payments-B. This client does only the actions paystream needs, non-blocking,
and signs every request with botocore's own SigV4 signer and credential chain
(environment, profile, instance role), so it talks to real SQS as well as to ElasticMQ.
Region and endpoint are the caller's; AWS_CA_BUNDLE is honoured for TLS.
"""

from __future__ import annotations

import json
import os
import ssl
from typing import Any

import aiohttp
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials
from botocore.session import get_session

_JSON = "application/x-amz-json-1.0"
# Retried once: a SendMessageBatch retried with the same MessageDeduplicationId is dropped
# by SQS itself within five minutes, so a retry never enqueues twice.
_ATTEMPTS = 2
_RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


class SqsError(Exception):
    """SQS answered with an error, or could not be reached."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


class SqsJsonClient:
    def __init__(self, endpoint_url: str | None, region: str, *, timeout_seconds: float = 5.0,
                 max_connections: int = 16) -> None:
        self.endpoint_url = (endpoint_url or f"https://sqs.{region}.amazonaws.com").rstrip("/")
        self.region = region
        # Both attempts together stay within the caller's timeout.
        per_attempt = timeout_seconds / _ATTEMPTS
        self._timeout = aiohttp.ClientTimeout(total=per_attempt,
                                              sock_connect=min(per_attempt, 2.0))
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._custom_endpoint = endpoint_url is not None
        self._credentials: Credentials | None = None
        self._credentials_resolved = False

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

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
        last: SqsError | None = None
        for _ in range(_ATTEMPTS):
            try:
                return await self._once(action, body, wait_seconds)
            except SqsError as exc:
                if exc.status is not None and exc.status not in _RETRYABLE_STATUSES:
                    raise
                last = exc
        assert last is not None
        raise last

    async def _once(self, action: str, body: bytes, wait_seconds: float) -> dict[str, Any]:
        headers = self._signed_headers(action, body)
        timeout = (aiohttp.ClientTimeout(total=self._timeout.total + wait_seconds,
                                         sock_connect=self._timeout.sock_connect)
                   if wait_seconds and self._timeout.total is not None else self._timeout)
        try:
            async with self._client().post(self.endpoint_url + "/", data=body,
                                           headers=headers, timeout=timeout) as resp:
                text = await resp.text()
                status = resp.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise SqsError("Unreachable", f"{type(exc).__name__}: {exc}") from exc
        try:
            answer = json.loads(text) if text else {}
        except ValueError:
            answer = {"__type": "InvalidResponse", "message": text[:200]}
        if status >= 300:
            code = str(answer.get("__type", f"HTTP{status}")).rsplit("#", 1)[-1]
            message = str(answer.get("message") or answer.get("Message") or "")
            raise SqsError(code, message, status)
        if not isinstance(answer, dict):
            raise SqsError("InvalidResponse", "expected a JSON object", status)
        return answer

    def _signed_headers(self, action: str, body: bytes) -> dict[str, str]:
        request = AWSRequest(method="POST", url=self.endpoint_url + "/", data=body, headers={
            "Content-Type": _JSON, "X-Amz-Target": f"AmazonSQS.{action}"})
        credentials = self._frozen_credentials()
        if credentials is not None:
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

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # The CA bundle botocore would use, where one is configured (corporate TLS).
            bundle = os.environ.get("AWS_CA_BUNDLE")
            tls: ssl.SSLContext | bool = (ssl.create_default_context(cafile=bundle)
                                          if bundle and self.endpoint_url.startswith("https")
                                          else True)
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, trust_env=False,
                connector=aiohttp.TCPConnector(limit=self._max_connections, ssl=tls))
        return self._session

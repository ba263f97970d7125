"""The SQS client's transport (`SqsJsonClient` on `streams.keepalive_http`) against raw
servers that drop, stall and garble on purpose, and against ElasticMQ behind a proxy that
loses answers.

What matters is what a failure says: `maybe_applied` is False only when nothing was sent,
and once an attempt may have landed no later failure may say otherwise. The edge answers
"unavailable" either way and its caller's retry reuses the MessageDeduplicationId; what a
resend within SQS's 5-minute window does is checked against the real server.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import ssl
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from edge_helpers import payment_request
from raw_http_server import http_answer, raw_server, read_request, refused_port

from api_edge.enqueue import EnqueueError, PaymentQueue
from bridge_sqs.sqs_client import SqsError, SqsJsonClient
from devstack.sqs import sqs_client

Read = Callable[[], Awaitable[bytes]]  # the next request on the connection, recorded
Handler = Callable[[Read, asyncio.StreamWriter], Awaitable[None]]

_answer = partial(http_answer, content_type=b"application/json")
_OK = b'{"Successful":[{"Id":"0","MessageId":"m-0"}],"Failed":[]}'


@asynccontextmanager
async def serving(handler: Handler, *, timeout: float = 0.6, max_connections: int = 4,
                  ) -> AsyncIterator[tuple[SqsJsonClient, list[bytes]]]:
    """A client for a server running `handler` per connection; the list holds every
    request the server read."""
    requests: list[bytes] = []

    async def recording(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def read() -> bytes:
            requests.append(await read_request(reader))
            return requests[-1]

        await handler(read, writer)

    async with raw_server(recording) as (port, _):
        client = SqsJsonClient(f"http://127.0.0.1:{port}", "us-east-1",
                               timeout_seconds=timeout, max_connections=max_connections)
        try:
            yield client, requests
        finally:
            await client.aclose()


def _entries(dedup: str = "d-1") -> list[dict[str, object]]:
    return [{"Id": "0", "MessageBody": '{"secret":"nonce-1"}', "MessageGroupId": "o-1",
             "MessageDeduplicationId": dedup}]


async def _send(client: SqsJsonClient) -> dict[str, object]:
    return await client.send_message_batch("http://q/payment-requests.fifo", _entries())


async def _failure(client: SqsJsonClient) -> SqsError:
    """The error one `_send` fails with."""
    with pytest.raises(SqsError) as caught:
        await _send(client)
    return caught.value


async def test_unsigned_json_calls_share_one_connection(no_credentials: None) -> None:
    async def answer(read: Read, writer: asyncio.StreamWriter) -> None:
        while True:
            await read()
            writer.write(_answer(_OK))

    async with serving(answer) as (client, requests):
        for _ in range(3):
            assert (await _send(client))["Successful"] == [{"Id": "0", "MessageId": "m-0"}]
    assert len(requests) == 3
    head, body = requests[0].split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST / HTTP/1.1"
    assert "X-Amz-Target: AmazonSQS.SendMessageBatch" in lines
    assert "Content-Type: application/x-amz-json-1.0" in lines
    assert not any(line.lower().startswith("authorization") for line in lines)
    assert json.loads(body)["Entries"][0]["MessageDeduplicationId"] == "d-1"


async def test_requests_are_signed_for_the_host_they_are_sent_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAPAYSTREAMTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)

    async def answer(read: Read, writer: asyncio.StreamWriter) -> None:
        await read()
        writer.write(_answer(_OK))
        await asyncio.sleep(1)

    async with serving(answer) as (client, requests):
        await _send(client)
    head, body = requests[0].split(b"\r\n\r\n", 1)
    assert b"not-a-real-secret" not in requests[0]
    headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
    # The server's side of SigV4: the signature over what actually arrived (Host included).
    check = AWSRequest(method="POST", url=f"http://{headers['Host']}/", data=body, headers={
        "Content-Type": headers["Content-Type"], "X-Amz-Target": headers["X-Amz-Target"],
        "X-Amz-Date": headers["X-Amz-Date"]})
    check.context["timestamp"] = headers["X-Amz-Date"]
    signer = SigV4Auth(Credentials("AKIAPAYSTREAMTEST", "not-a-real-secret"), "sqs",
                       "us-east-1")
    expected = signer.signature(signer.string_to_sign(check, signer.canonical_request(check)),
                                check)
    assert headers["Authorization"].endswith(f"Signature={expected}")
    assert "SignedHeaders=content-type;host;x-amz-date;x-amz-target" in headers["Authorization"]


async def test_a_refused_connection_was_never_sent(no_credentials: None) -> None:
    port = await refused_port()
    client = SqsJsonClient(f"http://127.0.0.1:{port}", "us-east-1", timeout_seconds=1.0)
    try:
        error = await _failure(client)
    finally:
        await client.aclose()
    assert error.code == "Unreachable"
    assert error.status is None
    assert error.maybe_applied is False


async def test_a_stalled_answer_may_have_been_applied_and_is_retried_once(
    no_credentials: None,
) -> None:
    async def stall(read: Read, writer: asyncio.StreamWriter) -> None:
        await read()
        await asyncio.sleep(5)

    async with serving(stall, timeout=0.4) as (client, requests):
        loop = asyncio.get_running_loop()
        started = loop.time()
        error = await _failure(client)
        # Both attempts together stay within the caller's timeout.
        assert loop.time() - started < 0.4 + 0.2
    assert error.code == "NoAnswer"
    assert error.maybe_applied is True
    # The resend is the same request: the same MessageDeduplicationId, dropped by SQS.
    assert len(requests) == 2 and requests[0].split(b"\r\n\r\n")[1] == \
        requests[1].split(b"\r\n\r\n")[1]


@pytest.mark.parametrize(("reply", "then_close"), [
    (b"", True),  # the request was read, then the connection dropped
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"Successful", True),
    (b"SMTP ready\r\n\r\n", False),  # not HTTP, and the connection stays open
], ids=["dropped", "dropped-midway", "garbled"])
async def test_a_lost_or_garbled_answer_may_have_been_applied(
        reply: bytes, then_close: bool, no_credentials: None) -> None:
    async def handler(read: Read, writer: asyncio.StreamWriter) -> None:
        await read()
        writer.write(reply)
        await writer.drain()
        if not then_close:
            await asyncio.sleep(5)

    async with serving(handler) as (client, requests):
        error = await _failure(client)
    assert error.code == "NoAnswer"
    assert error.maybe_applied is True
    assert "nonce-1" not in str(error)  # message bodies never reach the error
    assert len(requests) == 2


async def test_a_retry_that_cannot_connect_still_says_the_first_may_have_landed(
    no_credentials: None,
) -> None:
    servers: list[asyncio.Server] = []

    async def drop_then_go(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        servers[0].close()  # the retry finds nobody listening
        writer.close()

    servers.append(await asyncio.start_server(drop_then_go, "127.0.0.1", 0))
    port = servers[0].sockets[0].getsockname()[1]
    client = SqsJsonClient(f"http://127.0.0.1:{port}", "us-east-1", timeout_seconds=1.0)
    try:
        error = await _failure(client)
    finally:
        await client.aclose()
        await servers[0].wait_closed()
    assert error.code == "NoAnswer"
    assert error.maybe_applied is True


async def test_no_free_connection_in_time_was_never_sent(no_credentials: None) -> None:
    async def stall(read: Read, writer: asyncio.StreamWriter) -> None:
        await read()
        await asyncio.sleep(5)

    async with serving(stall, timeout=0.4, max_connections=1) as (client, requests):
        # A long poll holds the only connection (its wait extends its own timeout).
        poll = asyncio.ensure_future(client.receive_messages("http://q/x", wait_seconds=2))
        await asyncio.sleep(0.05)
        error = await _failure(client)
        assert len(requests) == 1  # only the long poll reached the server
        poll.cancel()
        with pytest.raises(asyncio.CancelledError):
            await poll
    assert error.code == "Unreachable"
    assert error.maybe_applied is False


async def test_a_long_poll_outlasts_the_per_attempt_timeout(no_credentials: None) -> None:
    async def slow(read: Read, writer: asyncio.StreamWriter) -> None:
        await read()
        await asyncio.sleep(0.5)  # the server holds the poll past 0.2 s per attempt
        writer.write(_answer(b'{"Messages":[]}'))
        await asyncio.sleep(1)

    async with serving(slow, timeout=0.4) as (client, requests):
        assert await client.receive_messages("http://q/x", wait_seconds=1) == []
    assert len(requests) == 1


@pytest.mark.parametrize(("status", "body", "code", "attempts", "maybe_applied"), [
    (b"400 Bad Request",
     b'{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"no such queue"}',
     "QueueDoesNotExist", 1, False),
    (b"400 Bad Request", b'{"__type":"ThrottlingException","message":"slow down"}',
     "ThrottlingException", 1, False),
    (b"429 Too Many Requests", b'{"__type":"RequestThrottled"}', "RequestThrottled", 2,
     False),
    (b"503 Service Unavailable", b'{"__type":"ServiceUnavailable","Message":"busy"}',
     "ServiceUnavailable", 2, True),
    (b"500 Internal Server Error", b"<html>oops</html>", "InvalidResponse", 2, True),
], ids=["4xx", "4xx-throttling", "429", "503", "500-not-json"])
async def test_error_answers_keep_their_code_status_and_retry_rule(
        status: bytes, body: bytes, code: str, attempts: int, maybe_applied: bool,
        no_credentials: None) -> None:
    async def refuse(read: Read, writer: asyncio.StreamWriter) -> None:
        while True:
            await read()
            writer.write(_answer(body, status=status))

    async with serving(refuse) as (client, requests):
        error = await _failure(client)
    assert error.code == code
    assert error.status == int(status.split()[0])
    assert error.maybe_applied is maybe_applied
    assert len(requests) == attempts


async def test_a_5xx_then_success_is_a_success(no_credentials: None) -> None:
    async def once_busy(read: Read, writer: asyncio.StreamWriter) -> None:
        await read()
        writer.write(_answer(b'{"__type":"InternalError"}', status=b"500 Internal"))
        await read()
        writer.write(_answer(_OK))
        await asyncio.sleep(1)

    async with serving(once_busy) as (client, requests):
        assert (await _send(client))["Successful"]
    assert len(requests) == 2


async def test_a_success_whose_answer_is_not_json_may_have_been_applied(
    no_credentials: None,
) -> None:
    async def garble(read: Read, writer: asyncio.StreamWriter) -> None:
        await read()
        writer.write(_answer(b"not json"))
        await asyncio.sleep(1)

    async with serving(garble) as (client, requests):
        error = await _failure(client)
    assert (error.code, error.maybe_applied) == ("InvalidResponse", True)
    assert len(requests) == 1  # processed: not sent again


@pytest.mark.parametrize(("reply", "match"), [
    (None, "may have been enqueued"),  # stalls
    (_answer(b'{"Successful":[],"Failed":[]}'), "did not mention the message"),
], ids=["stalled", "silent-answer"])
async def test_the_edge_never_reports_a_maybe_enqueued_batch_as_refused(
        reply: bytes | None, match: str, no_credentials: None) -> None:
    async def handler(read: Read, writer: asyncio.StreamWriter) -> None:
        while True:
            await read()
            if reply is not None:
                writer.write(reply)
            else:
                await asyncio.sleep(5)

    async with serving(handler, timeout=0.4) as (client, _):
        queue = PaymentQueue("unused", "payment-requests.fifo", timeout_seconds=0.4,
                             senders=1, client=client)
        queue._queue_url = "http://q/payment-requests.fifo"
        await queue.start()
        try:
            request = payment_request("o-1")
            with pytest.raises(EnqueueError, match=match) as caught:
                await queue.send(request, request.idempotency_key)
            assert "refused" not in str(caught.value)
        finally:
            await queue.stop()


# -- against ElasticMQ -------------------------------------------------------------------


@asynccontextmanager
async def answer_losing_proxy(endpoint: str, lose: set[int]
                              ) -> AsyncIterator[tuple[str, list[int]]]:
    """A proxy to `endpoint` that forwards every request and drops the connection instead
    of the answer for the request numbers in `lose` (1-based). Yields its URL and a list
    counting client connections."""
    host, port = endpoint.rsplit("//", 1)[1].rstrip("/").split(":")
    seen = [0]
    connections: list[int] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        try:
            while True:
                request = await read_request(reader)
                seen[0] += 1
                up_writer.write(request)
                head = await up_reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                answer = head + await up_reader.readexactly(length)
                if seen[0] in lose:
                    return  # processed by ElasticMQ; the client never hears of it
                writer.write(answer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            up_writer.close()
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", connections
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
def fifo_queue(sqs_endpoint: str) -> str:
    name = f"transport-{uuid.uuid4().hex[:8]}.fifo"
    return str(sqs_client(sqs_endpoint).create_queue(
        QueueName=name, Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "false"},
    )["QueueUrl"])


async def test_elasticmq_a_lost_answer_is_resent_and_enqueued_once(
        sqs_endpoint: str, fifo_queue: str, no_credentials: None) -> None:
    async with answer_losing_proxy(sqs_endpoint, lose={1}) as (url, connections):
        client = SqsJsonClient(url, "us-east-1", timeout_seconds=4.0)
        try:
            answer = await client.send_message_batch(fifo_queue, [
                {"Id": str(i), "MessageBody": f'{{"n":{i}}}', "MessageGroupId": "o-1",
                 "MessageDeduplicationId": f"dedup-{i}"} for i in range(3)])
            assert [ok["Id"] for ok in answer["Successful"]] == ["0", "1", "2"]
            # Then keep-alive: further calls ride the retry's connection.
            for _ in range(3):
                await client.get_queue_attributes(fifo_queue, ["FifoQueue"])
        finally:
            await client.aclose()
    assert len(connections) == 2
    depth = sqs_client(sqs_endpoint).get_queue_attributes(
        QueueUrl=fifo_queue, AttributeNames=["ApproximateNumberOfMessages"])
    assert depth["Attributes"]["ApproximateNumberOfMessages"] == "3"


async def test_elasticmq_both_answers_lost_is_maybe_applied_and_it_was(
        sqs_endpoint: str, fifo_queue: str, no_credentials: None) -> None:
    async with answer_losing_proxy(sqs_endpoint, lose={1, 2}) as (url, _):
        client = SqsJsonClient(url, "us-east-1", timeout_seconds=4.0)
        try:
            with pytest.raises(SqsError) as caught:
                await client.send_message_batch(fifo_queue, [
                    {"Id": "0", "MessageBody": "{}", "MessageGroupId": "o-1",
                     "MessageDeduplicationId": "dedup-lost"}])
        finally:
            await client.aclose()
    assert (caught.value.code, caught.value.maybe_applied) == ("NoAnswer", True)
    got = sqs_client(sqs_endpoint).receive_message(QueueUrl=fifo_queue,
                                                   MaxNumberOfMessages=10)
    assert [m["Body"] for m in got.get("Messages", [])] == ["{}"]


async def test_elasticmq_long_poll_and_delete_through_keep_alive(
        sqs_endpoint: str, fifo_queue: str, no_credentials: None) -> None:
    client = SqsJsonClient(sqs_endpoint, "us-east-1", timeout_seconds=1.0)
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        # Longer than both attempts' own budget (1 s): the wait extends the timeout.
        assert await client.receive_messages(fifo_queue, wait_seconds=2) == []
        assert loop.time() - started >= 1.5
        await client.send_message(fifo_queue, "{}", group_id="o-1", dedup_id="d-1")
        got = await client.receive_messages(fifo_queue, wait_seconds=1)
        assert await client.delete_message_batch(
            fifo_queue, [m["ReceiptHandle"] for m in got]) == []
    finally:
        await client.aclose()


# -- TLS, as to AWS's endpoint ---------------------------------------------------------


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sqs.test")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=1))
            .not_valid_after(now + timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


async def test_https_with_aws_ca_bundle_and_a_failed_handshake_was_never_sent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAPAYSTREAMTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
    cert_file, key_file = _self_signed(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert_file, key_file)
    seen: list[bytes] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                seen.append(await read_request(reader))
                writer.write(_answer(_OK))
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0, ssl=tls)
    endpoint = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        monkeypatch.setenv("AWS_CA_BUNDLE", str(cert_file))
        trusted = SqsJsonClient(endpoint, "us-east-1", timeout_seconds=2.0)
        try:
            assert (await _send(trusted))["Successful"]
        finally:
            await trusted.aclose()
        assert len(seen) == 1 and b"\r\nAuthorization: AWS4-HMAC-SHA256 " in seen[0]
        # Without the bundle the server's certificate is not trusted: nothing was sent.
        monkeypatch.delenv("AWS_CA_BUNDLE")
        untrusted = SqsJsonClient(endpoint, "us-east-1", timeout_seconds=2.0)
        try:
            error = await _failure(untrusted)
        finally:
            await untrusted.aclose()
        assert (error.code, error.maybe_applied) == ("Unreachable", False)
        assert len(seen) == 1
    finally:
        server.close()
        await server.wait_closed()

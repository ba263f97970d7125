"""Serve the development issuer on 127.0.0.1 in a thread (tests, benches, `paystream issuer`)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from devstack.dev_issuer import DevIssuer
from devstack.dev_realm import DEFAULT_REALM


@contextmanager
def run_dev_issuer(
    port: int | None = None,
    *,
    realm: str = DEFAULT_REALM,
    key_file: Path | None = None,
    startup_timeout: float = 15.0,
    **issuer_options: Any,
) -> Iterator[DevIssuer]:
    """Serve a DevIssuer on 127.0.0.1 (a free port unless `port` is given) in a thread.

    The socket is bound before the issuer is built, so its URL is known up front and no
    other process can take the port in between.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port or 0))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    bound_port = int(sock.getsockname()[1])
    issuer = DevIssuer(f"http://127.0.0.1:{bound_port}", realm, key_file=key_file,
                       **issuer_options)
    config = uvicorn.Config(issuer.app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                              name=f"dev-issuer-{bound_port}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + startup_timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"dev issuer did not start on 127.0.0.1:{bound_port}")
            time.sleep(0.02)
        yield issuer
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()

"""Run real HTTP servers on loopback for tests: a free port, and an ASGI app under uvicorn."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve_app(app: Any, *, what: str = "test server", lifespan: str = "off",
              startup_timeout_s: float = 20.0) -> Iterator[str]:
    """Serve an ASGI ``app`` with uvicorn on a free loopback port in a thread; yield its base URL.

    Fails the test if the server is not up within ``startup_timeout_s``; stops it on exit.
    """
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error",
                                           lifespan=lifespan))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail(f"{what} did not start within {startup_timeout_s:g} s")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)

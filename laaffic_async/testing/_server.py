"""Serving the sandbox over a real socket with uvicorn (the ``sandbox`` extra)."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from ._app import Sandbox

#: Any ASGI application (a :class:`Sandbox`, or a push receiver for the pusher to reach).
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]


def _uvicorn() -> Any:
    try:
        import uvicorn
    except ImportError:  # pragma: no cover - depends on the install
        raise ImportError(
            "serving the sandbox needs uvicorn: pip install 'laaffic-async[sandbox]'"
        ) from None
    return uvicorn


def _config(sandbox: Sandbox | ASGIApp, host: str, port: int, log_level: str) -> Any:
    uvicorn = _uvicorn()
    return uvicorn.Config(
        sandbox,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        # The sandbox writes its own Date header from its (possibly skewed) clock.
        date_header=False,
        server_header=False,
        access_log=False,
        backlog=4096,
    )


def serve(
    sandbox: Sandbox, host: str = "127.0.0.1", port: int = 8080, log_level: str = "info"
) -> None:
    """Serve ``sandbox`` until interrupted (what ``laaffic-async sandbox`` runs)."""
    _uvicorn().Server(_config(sandbox, host, port, log_level)).run()


@contextlib.contextmanager
def serve_in_thread(
    sandbox: Sandbox | ASGIApp,
    host: str = "127.0.0.1",
    port: int = 0,
    log_level: str = "critical",
    *,
    prefix: str = "/v3",
) -> Iterator[str]:
    """Serve ``sandbox`` on a free local port in a background thread; yield its base URL.

    For tests and demos that need a real socket (connection pooling, a
    dropped connection, pushes).  The server stops when the block exits.
    Any ASGI app may be served (a push receiver, say); the yielded URL is
    the server's root plus ``prefix``.
    """
    uvicorn = _uvicorn()
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets whose proto says
    # TCP, and without it every answer (headers, then body) waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    server = uvicorn.Server(_config(sandbox, host, bound_port, log_level))
    server.install_signal_handlers = lambda: None  # not the main thread
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    logging.getLogger("uvicorn.error").disabled = log_level == "critical"
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the sandbox server did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{bound_port}{prefix}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()

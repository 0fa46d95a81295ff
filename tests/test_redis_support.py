"""The Redis fixture itself: a real server that answers, stops and restarts empty."""

from __future__ import annotations

import socket

from .redis_support import RedisServer


def _ask(port: int, command: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
        conn.sendall(command)
        return conn.recv(64)


def test_server_answers_and_restarts_empty(redis_server: RedisServer) -> None:
    assert _ask(redis_server.port, b"SET k v\r\n").startswith(b"+OK")
    redis_server.stop()
    redis_server.start()
    assert _ask(redis_server.port, b"EXISTS k\r\n").startswith(b":0")

"""A raw HTTP/1.1 server on 127.0.0.1 that misbehaves on request, for the transport tests.

A thread per connection, so the client under test runs on asyncio or trio alike. It counts
connections and the requests each one carried, so tests see reuse, limits and closes from the
server's side. Built-in routes: /ok, /slow/<seconds>, /close-after, /drop, /partial,
/truncated, /big. ``script`` maps a path suffix to the raw bytes to answer (the connection then
stays open) or to a function ``(conn) -> keep open?`` that writes what it likes.
``idle_timeout`` closes connections that wait longer than that for their next request;
``tls`` serves HTTPS with the given server context.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator

import pytest

__all__ = ["BIG", "Action", "ForwardProxy", "RawServer", "answer", "proxy", "server"]

BIG = bytes(range(256)) * 800  # 200 kB, several reads

#: What a scripted route does: raw bytes to send, or a function writing to the connection
#: that returns whether to keep it open.
Action = bytes | Callable[[socket.socket], bool]


def answer(body: bytes, *headers: str, status: str = "200 OK") -> bytes:
    """A complete HTTP/1.1 response with ``Content-Length`` and the given extra headers."""
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class RawServer:
    """See the module docstring."""

    def __init__(
        self, *, idle_timeout: float | None = None, tls: ssl.SSLContext | None = None
    ) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=256)
        self.port = self.listener.getsockname()[1]
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.idle_timeout = idle_timeout
        self.tls = tls
        self.script: dict[str, Action] = {}
        self.heads: list[bytes] = []  # every request head received, in order
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.accepted = 0
        self.open = 0
        self.max_open = 0
        self.idle_closed = 0  # connections closed by idle_timeout
        self.requests: list[int] = []  # requests per connection, by accept order
        self.received = threading.Event()  # set when a /slow or /partial request arrives
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                index = self.accepted
                self.accepted += 1
                self.open += 1
                self.max_open = max(self.max_open, self.open)
                self.requests.append(0)
            threading.Thread(target=self._serve, args=(conn, index), daemon=True).start()

    def _serve(self, conn: socket.socket, index: int) -> None:
        buf = b""
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            while not self.stop.is_set():
                conn.settimeout(self.idle_timeout if not buf else None)
                while b"\r\n\r\n" not in buf:
                    try:
                        data = conn.recv(65536)
                    except TimeoutError:
                        with self.lock:
                            self.idle_closed += 1
                        return
                    if not data:
                        return
                    buf += data
                    conn.settimeout(None)
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buf) < length:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                buf = buf[length:]
                path = head.split(b" ")[1].decode()
                with self.lock:
                    self.requests[index] += 1
                    self.heads.append(head)
                if not self._answer(conn, index, path):
                    return
        except (OSError, ssl.SSLError):
            return
        finally:
            conn.close()
            with self.lock:
                self.open -= 1

    def _answer(self, conn: socket.socket, index: int, path: str) -> bool:
        """Write the answer; False closes the connection."""
        for suffix, action in self.script.items():
            if path.split("?")[0].endswith(suffix):
                if isinstance(action, bytes):
                    conn.sendall(action)
                    return True
                return action(conn)
        if path.startswith("/slow/"):
            self.received.set()
            if self._hold(conn, float(path.rsplit("/", 1)[1])):
                return False
        if path == "/drop":
            return False
        if path in ("/partial", "/truncated"):  # stall, or close, after 10 of 100 bytes
            self.received.set()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
            if path == "/partial":
                self._hold(conn, 10)
            return False
        body = BIG if path == "/big" else json.dumps({"path": path, "conn": index}).encode()
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
        conn.sendall(head % len(body) + body)
        return path != "/close-after"  # close after answering, without saying so

    def _hold(self, conn: socket.socket, seconds: float) -> bool:
        """Wait; True as soon as the client closes the connection (or the test ends)."""
        conn.settimeout(0.02)
        try:
            for _ in range(int(seconds / 0.02)):
                if self.stop.is_set():
                    return True
                try:
                    if not conn.recv(1, socket.MSG_PEEK):
                        return True
                except TimeoutError:
                    continue
            return False
        finally:
            conn.settimeout(None)

    def close(self) -> None:
        self.stop.set()
        self.listener.close()


@pytest.fixture
def server() -> Iterator[RawServer]:
    srv = RawServer()
    yield srv
    srv.close()


class ForwardProxy:
    """A forward HTTP proxy on 127.0.0.1: absolute-form requests and CONNECT tunnels.

    Absolute-form requests are read one at a time, sent upstream in origin form, and the
    answer (``Content-Length`` framed, as ``RawServer`` sends) relayed back; CONNECT opens a
    tunnel and pipes bytes both ways. ``seen`` lists each request line received.
    """

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.seen: list[str] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        upstreams: dict[tuple[str, int], socket.socket] = {}
        try:
            buf = b""
            while True:
                head, buf = _read_head(conn, buf)
                if head is None:
                    return
                line = head.split(b"\r\n", 1)[0].decode("latin-1")
                with self.lock:
                    self.seen.append(line)
                method, target, version = line.split(" ")
                if method == "CONNECT":
                    host, _, port = target.rpartition(":")
                    upstream = socket.create_connection((host, int(port)))
                    conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n" + b"")
                    if buf:
                        upstream.sendall(buf)
                    _pipe(conn, upstream)
                    return
                _, _, rest = target.partition("://")
                authority, _, path = rest.partition("/")
                host, _, port = authority.rpartition(":")
                key = (host, int(port or 80))
                length = _content_length(head)
                while len(buf) < length:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                body, buf = buf[:length], buf[length:]
                upstream = upstreams.get(key) or socket.create_connection(key)
                upstreams[key] = upstream
                rest_of_head = head.split(b"\r\n", 1)[1]
                request_line = f"{method} /{path} {version}\r\n".encode("latin-1")
                upstream.sendall(request_line + rest_of_head + b"\r\n\r\n" + body)
                answer_head, extra = _read_head(upstream, b"")
                if answer_head is None:
                    return
                need = _content_length(answer_head)
                while len(extra) < need:
                    data = upstream.recv(65536)
                    if not data:
                        break
                    extra += data
                conn.sendall(answer_head + b"\r\n\r\n" + extra[:need])
        except OSError:
            return
        finally:
            conn.close()
            for upstream in upstreams.values():
                upstream.close()

    def close(self) -> None:
        self.listener.close()


def _read_head(conn: socket.socket, buf: bytes) -> tuple[bytes | None, bytes]:
    while b"\r\n\r\n" not in buf:
        data = conn.recv(65536)
        if not data:
            return None, buf
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head, rest


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def _pipe(a: socket.socket, b: socket.socket) -> None:
    def copy(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    other = threading.Thread(target=copy, args=(b, a), daemon=True)
    other.start()
    copy(a, b)
    other.join()
    b.close()


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    forward = ForwardProxy()
    yield forward
    forward.close()

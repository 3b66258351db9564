"""Slow clients (slowloris) against a server on 127.0.0.1, and a probe of its latency
while they are connected: for the fault test of item 2 and its benchmark."""

from __future__ import annotations

import http.client
import json
import select
import socket
import threading
import time
from urllib.parse import urlsplit

# Declared but never all sent: the body of a slow POST (below MAX_CONTENT_LENGTH's default,
# so the app does not refuse it before reading).
SLOW_BODY_LENGTH = 100_000


def address(url: str) -> tuple[str, int]:
    """(host, port) of a base URL."""
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


class SlowClients:
    """`count` connections that each send one more piece of a request every `interval`
    seconds and never finish it: half dribble header lines, half (after complete
    headers) dribble the body. A connection the server closes is opened again at once,
    as an attacker would; how long each lived is kept by kind ("headers", "body").

    A thread runs them for the duration of a `with` block; every socket is closed at
    its end."""

    def __init__(self, url: str, count: int = 50, interval: float = 1.5) -> None:
        self.address, self.count, self.interval = address(url), count, interval
        self.conns: dict[socket.socket, tuple[str, float]] = {}  # -> (kind, opened at)
        self.lived: dict[str, list[float]] = {"headers": [], "body": []}
        self.refused = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def open(self, kind: str) -> None:
        """A new connection of `kind` with its first piece sent; counted if refused."""
        host = self.address[0]
        try:
            sock = socket.create_connection(self.address, timeout=2)
            if kind == "headers":
                sock.sendall(f"GET /health HTTP/1.1\r\nHost: {host}\r\n".encode())
            else:
                sock.sendall(
                    f"POST /predict HTTP/1.1\r\nHost: {host}\r\n"
                    "Content-Type: application/json\r\n"
                    f"Content-Length: {SLOW_BODY_LENGTH}\r\n\r\n[".encode()
                )
        except OSError:
            self.refused += 1
            return
        self.conns[sock] = (kind, time.monotonic())

    def closed(self, sock: socket.socket) -> None:
        """The server ended `sock`: record how long it lived and open another."""
        kind, opened = self.conns.pop(sock)
        self.lived[kind].append(time.monotonic() - opened)
        sock.close()
        self.open(kind)

    def dribble(self) -> None:
        """One more piece on every connection: a header line, or a byte of the body."""
        for sock, (kind, _) in list(self.conns.items()):
            piece = b"X-Slow: 1\r\n" if kind == "headers" else b" "
            try:
                sock.sendall(piece)
            except OSError:
                self.closed(sock)

    def run(self) -> None:
        for i in range(self.count):
            self.open("headers" if i % 2 == 0 else "body")
        next_piece = time.monotonic() + self.interval
        while not self.stop.is_set():
            wait = max(0.0, min(next_piece - time.monotonic(), 0.1))
            readable, _, _ = select.select(list(self.conns), [], [], wait)
            for sock in readable:  # an answer or the end: either way the server is done
                self.closed(sock)
            if time.monotonic() >= next_piece:
                self.dribble()
                next_piece += self.interval
        for sock in self.conns:
            sock.close()

    def __enter__(self) -> "SlowClients":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(10)


def timed_request(url: str, method: str, path: str, body: bytes | None) -> float:
    """Seconds one request takes on a new connection; infinity if it fails or takes
    over 5 s."""
    started = time.monotonic()
    conn = http.client.HTTPConnection(*address(url), timeout=5)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body, headers)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            return float("inf")
    except OSError:
        return float("inf")
    finally:
        conn.close()
    return time.monotonic() - started


def probe(url: str, record: dict, seconds: float, pause: float = 0.2) -> dict:
    """Latencies (s) of GET /health and POST /predict (one record), one after the other
    with a pause, for `seconds`: {path: [seconds, ...]}."""
    body = json.dumps(record).encode()
    latencies: dict[str, list[float]] = {"/health": [], "/predict": []}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        latencies["/health"].append(timed_request(url, "GET", "/health", None))
        latencies["/predict"].append(timed_request(url, "POST", "/predict", body))
        time.sleep(pause)
    return latencies

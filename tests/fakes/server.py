"""A fake partner: a small threaded HTTP server on 127.0.0.1 (random port) answering from a script.

Each route (method, path without query) has a list of replies; each request takes the next one and the last one
repeats. A reply can be slow, hang until released, be a 5xx, be malformed JSON, or drop the connection without an
answer. Every request is recorded, so a test can count exactly what the partner received.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: str | bytes | dict[str, Any] | list[Any] = ""
    content_type: str = "application/json"
    delay: float = 0.0  # seconds before answering (a slow partner)
    hang: threading.Event | None = None  # wait until set (a partner holding the request)
    drop: bool = False  # close the connection with no answer at all

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body).encode("utf-8")


def server_error() -> Reply:
    return Reply(status=503, body="<html><body>503 Service Unavailable</body></html>", content_type="text/html")


def malformed_json() -> Reply:
    return Reply(status=200, body='{"success": true, "billStatus": {"billStatus": "PAYMENT_SUCC')


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        return json.loads(self.body)


class FakePartnerServer:
    def __init__(self) -> None:
        self._routes: dict[tuple[str, str], list[Reply]] = {}
        self._served: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._hangs: list[threading.Event] = []
        self.requests: list[ReceivedRequest] = []
        self._httpd = _Server(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def reply(self, method: str, path: str, *replies: Reply) -> None:
        """Script a route: each request takes the next reply; the last one repeats."""
        with self._lock:
            self._routes[(method.upper(), path)] = list(replies)
            self._served[(method.upper(), path)] = 0
            self._hangs += [reply.hang for reply in replies if reply.hang is not None]

    def received(self, method: str | None = None, path: str | None = None) -> list[ReceivedRequest]:
        with self._lock:
            return [
                request
                for request in self.requests
                if (method is None or request.method == method.upper()) and (path is None or request.path == path)
            ]

    def wait_for(self, count: int, *, method: str | None = None, path: str | None = None, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                matching = [
                    r
                    for r in self.requests
                    if (method is None or r.method == method.upper()) and (path is None or r.path == path)
                ]
                if len(matching) >= count:
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"expected {count} request(s) to {method} {path}, got {len(matching)}")
                self._arrived.wait(remaining)

    def close(self) -> None:
        for event in self._hangs:
            event.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def _next_reply(self, request: ReceivedRequest) -> Reply:
        with self._arrived:
            self.requests.append(request)
            self._arrived.notify_all()
            key = (request.method, request.path)
            replies = self._routes.get(key)
            if not replies:
                return Reply(status=404, body={"message": f"no route {request.method} {request.path}"})
            index = min(self._served[key], len(replies) - 1)
            self._served[key] += 1
            return replies[index]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and hung up is part of the scenario, not an error to print


def _handler_for(server: FakePartnerServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            parsed = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = ReceivedRequest(
                method=self.command,
                path=parsed.path,
                query=urllib.parse.parse_qs(parsed.query),
                headers={key.lower(): value for key, value in self.headers.items()},
                body=body,
            )
            reply = server._next_reply(request)
            if reply.hang is not None:
                reply.hang.wait(30)
            if reply.delay:
                time.sleep(reply.delay)
            if reply.drop:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            payload = reply.encoded()
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: connecting is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"

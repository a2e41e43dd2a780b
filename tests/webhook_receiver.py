"""A real HTTP receiver on loopback for webhook tests: 503 for its first ``fail`` requests, then
200; it counts every request and keeps the bodies by their ``Idempotency-Key``."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver(ThreadingHTTPServer):
    """A loopback HTTP receiver: 503 for the first ``fail`` requests, then 200; keeps every
    request and the bodies by idempotency key."""

    def __init__(self, fail: int) -> None:
        self.fail, self.requests, self.by_key = fail, 0, {}
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), Handler)


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        srv: Receiver = self.server
        with srv.lock:
            srv.requests += 1
            failing = srv.requests <= srv.fail
            if not failing:
                srv.by_key.setdefault(self.headers["Idempotency-Key"], []).append(json.loads(body))
        self.send_response(503 if failing else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass

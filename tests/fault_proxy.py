"""An HTTP proxy between msgctl and an AWS endpoint that injects faults, by seeded random choice (one
stream per AWS action):

- ``error``: a 500 InternalError, before forwarding (the server never saw the request);
- ``throttle``: a 400 ThrottlingException, before forwarding;
- ``drop``: the request is forwarded and carried out, then the connection is closed without a reply.

It counts what it injected per AWS action, so a test can bound what the faults may have caused. ``planned``
injects chosen faults on chosen calls instead ({"ReceiveMessage": {3: "drop"}}: the third ReceiveMessage).
``after(action)`` runs once the server has answered a call and before the answer goes back: a test changes
the server there, between two calls of msgctl, without waiting.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class FaultProxy:
    def __init__(
        self,
        upstream: str,
        seed: int,
        error: float = 0,
        throttle: float = 0,
        drop: float = 0,
        planned: dict[str, dict[int, str]] | None = None,
        after: Callable[[str], None] | None = None,
    ) -> None:
        self.upstream = urlsplit(upstream)
        self.planned = planned or {}
        self.after = after
        self.calls: Counter[str] = Counter()
        self.rates = {"error": error, "throttle": throttle, "drop": drop}
        self.seed = seed
        self.streams: dict[str, random.Random] = {}  # one per action: the k-th call of an action always
        # meets the same fault, however the threads of msgctl interleave
        self.lock = threading.Lock()
        self.injected: Counter[tuple[str, str]] = Counter()  # (fault, action) -> count
        self.forwarded: Counter[str] = Counter()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def count(self, fault: str, action: str | None = None) -> int:
        return sum(n for (f, a), n in self.injected.items() if f == fault and action in (None, a))

    def _choose(self, action: str) -> str | None:
        with self.lock:
            self.calls[action] += 1
            planned = self.planned.get(action, {}).get(self.calls[action])
            if planned:
                self.injected[(planned, action)] += 1
                return planned
            stream = self.streams.setdefault(action, random.Random(f"{self.seed}-{action}"))
            draw = stream.random()
            for fault, rate in self.rates.items():
                if draw < rate:
                    self.injected[(fault, action)] += 1
                    return fault
                draw -= rate
            self.forwarded[action] += 1
            return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                action = self.headers.get("X-Amz-Target", "").rsplit(".", 1)[-1] or _query_action(body)
                fault = proxy._choose(action)
                if fault == "error":
                    return self._error(500, "InternalError", "Receiver")
                if fault == "throttle":
                    return self._error(400, "ThrottlingException", "Sender")
                status, headers, reply = proxy._forward(self.command, self.path, self.headers, body)
                if proxy.after is not None:
                    proxy.after(action)
                if fault == "drop":  # the server did the work; the reply is lost
                    self.close_connection = True
                    return
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in HOP_HEADERS:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_GET = do_POST

            def _error(self, status: int, code: str, fault: str) -> None:
                reply = json.dumps({"__type": code, "message": f"injected {code}"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("x-amzn-query-error", f"{code};{fault}")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        return Handler

    def _forward(
        self, method: str, path: str, headers: object, body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=60)
        try:
            forwarded = {k: v for k, v in headers.items() if k.lower() not in HOP_HEADERS}  # type: ignore[attr-defined]
            forwarded["Host"] = self.upstream.netloc
            connection.request(method, path, body=body, headers=forwarded)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()


def _query_action(body: bytes) -> str:
    for pair in body.decode("utf-8", "replace").split("&"):
        if pair.startswith("Action="):
            return pair[len("Action=") :]
    return "?"

"""A hostile or broken hub for tests: a small real HTTP server on loopback that answers whatever the test
sets for a path, and records every request it gets (so a test can say what never reached it)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

Answer = tuple[int, str, bytes]  # status, content type, body
Route = Answer | Callable[[str], Answer]  # a fixed answer, or one computed from the full request path


def as_json(status: int, body: Any) -> Answer:
    return status, "application/json", json.dumps(body).encode()


HTML_200: Answer = (200, "text/html", b"<html><body>Welcome to our captive portal</body></html>")


@dataclass(frozen=True)
class Seen:
    method: str
    path: str  # as sent on the wire, query string included
    body: bytes = b""


class HostileHub:
    """`routes[(method, path)]` answers requests for that path (query string ignored); 404 otherwise."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Route] = {}
        self.seen: list[Seen] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                hub.seen.append(Seen(self.command, self.path, self.rfile.read(length) if length else b""))
                route = hub.routes.get((self.command, urlsplit(self.path).path))
                if route is None:
                    status, kind, body = as_json(404, {"detail": "not found"})
                elif callable(route):
                    status, kind, body = route(self.path)
                else:
                    status, kind, body = route
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> HostileHub:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

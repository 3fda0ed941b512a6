"""Serving the dashboard: uvicorn on a socket bound to 127.0.0.1 only (a free port, or the one asked for).

`DashboardServer.serve_forever()` runs in the calling (main) thread until Ctrl+C, as `blacklist-agent ui`
does; `start()` / `stop()` run it in a background thread (the tests, and the tray icon's process). The
opening link (with its one-time key) is minted only once the socket is bound, since the guard checks the
port in every `Host` header and names its cookie after it.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from types import TracebackType

import uvicorn

from agent.ui.app import create_app
from agent.ui.dashboard import Dashboard

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"  # never anything else: the dashboard must not be reachable from the network


class DashboardServer:
    def __init__(self, dashboard: Dashboard) -> None:
        self.dashboard = dashboard
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The dashboard's address (without a key: it shows 403 until the browser has a session)."""
        return self.dashboard.base_url

    def bind(self, port: int = 0) -> DashboardServer:
        """Take the port now (so the URL can be printed before serving)."""
        # proto=IPPROTO_TCP so that asyncio turns on TCP_NODELAY (no ~40 ms Nagle delay per response).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.bind((HOST, port))
            # Listening now: the browser opened with the link may connect before uvicorn has started; the
            # connection then waits in the backlog instead of being refused.
            sock.listen(128)
        except OSError:
            sock.close()
            raise
        self._socket = sock
        bound = int(sock.getsockname()[1])
        self.dashboard.guard.port = bound
        self.dashboard.base_url = f"http://{HOST}:{bound}"
        config = uvicorn.Config(
            create_app(self.dashboard),
            log_level="warning",
            access_log=False,  # a request line would carry the opening link's key
            lifespan="off",
            timeout_keep_alive=30,
            timeout_graceful_shutdown=5,
        )
        self._server = uvicorn.Server(config)
        return self

    def open_link(self) -> str:
        """A new one-time link into the dashboard."""
        return self.dashboard.guard.new_link(self.dashboard.base_url)

    def serve_forever(self) -> None:
        """Serve in this thread until Ctrl+C (uvicorn handles the signal and shuts down gracefully)."""
        if self._server is None or self._socket is None:
            self.bind()
        server, sock = self._server, self._socket
        assert server is not None
        assert sock is not None
        try:
            server.run(sockets=[sock])
        finally:
            self.dashboard.close()

    def start(self, *, timeout: float = 15.0) -> DashboardServer:
        """Serve in a daemon thread; returns once the server accepts connections."""
        if self._server is None or self._socket is None:
            self.bind()
        server, sock = self._server, self._socket
        assert server is not None
        assert sock is not None
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="dashboard", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the dashboard did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.dashboard.close()

    def __enter__(self) -> DashboardServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

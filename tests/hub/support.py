"""Helpers for the hub tests: a settable clock, a TestClient that knows its hub, a served hub."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from hub.admin import HubAdmin
from hub.app import HubContext, create_app
from hub.sellers import create_seller
from hub.settings import HubSettings


class Clock:
    """A settable clock for the hub (aware UTC)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class HubClient(TestClient):
    """A TestClient over one hub, with its clock and a way to register sellers."""

    clock: Clock
    settings: HubSettings

    @property
    def context(self) -> HubContext:
        context: HubContext = self.app.state.hub  # type: ignore[attr-defined]
        return context

    def add_seller(self, name: str, store_id: str | None = None) -> dict[str, str]:
        """Register a seller; returns its Authorization header."""
        with self.context.db.write() as session:
            _, token = create_seller(session, name, store_id or f"store-{name}", self.clock())
        return {"Authorization": f"Bearer {token}"}

    def admin(self) -> HubAdmin:
        return HubAdmin(self.settings, now=self.clock())

    def push(self, headers: dict[str, str], *reports: dict[str, Any], snapshot: bool = False) -> Any:
        method = self.put if snapshot else self.post
        response = method("/v1/reports", json={"reports": list(reports)}, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    def feed(self, headers: dict[str, str], cursor: int = 0, limit: int = 1000) -> Any:
        response = self.get("/v1/feed", params={"cursor": cursor, "limit": limit}, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    def entry(self, headers: dict[str, str], member_id: str) -> Any:
        response = self.get(f"/v1/entries/{member_id}", headers=headers)
        return response.json() if response.status_code == 200 else None


def report(member_id: str, name: str = "Jane Roe", reason: str = "fraud", **extra: Any) -> dict[str, Any]:
    return {"member_id": member_id, "name": name, "reason": reason, **extra}


MakeHub = Callable[..., HubClient]


class ServedHub:
    """A hub app served by a real uvicorn server on loopback, in a thread."""

    def __init__(self, settings: HubSettings) -> None:
        import socket

        import uvicorn

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.port = port
        self.settings = settings
        self.app = create_app(settings)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=port, log_level="warning")
        self.server = uvicorn.Server(config)

    @property
    def context(self) -> HubContext:
        context: HubContext = self.app.state.hub
        return context

    def __enter__(self) -> ServedHub:
        import threading
        import time

        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the hub server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)

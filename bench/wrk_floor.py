"""The baseline of `bench/hub_wrk.py`: a bare ASGI app that answers every request with a 304 and an ETag.

Served by the same uvicorn (httptools, uvloop, no access log) on the same machine in the same run, it shows
what the HTTP server alone costs per request here, so the hub's figures read as a ratio to it.
"""

from __future__ import annotations

from starlette.types import Receive, Scope, Send

_START = {"type": "http.response.start", "status": 304, "headers": [(b"etag", b'W/"f1:1-1000-1-0"')]}
_BODY = {"type": "http.response.body", "body": b""}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await send(_START)
        await send(_BODY)

"""Plain requests without Playwright: the slice of `APIRequestContext` the transport uses, over httpx.

Reading `http`/`json` pages and replaying forms needs neither a browser nor Playwright's driver process: this
client carries the session's cookies (loaded from, and saved back to, Playwright's storage-state format) and
answers like `APIRequestContext` (`get`, `post(form=...)`, responses with `url`, `status`, `headers`,
`text()`, `dispose()`), so the transport's retry, pacing and session checks apply unchanged. A network
failure is raised as Playwright's `Error`, which the transport already retries. When the browser starts, its
context takes the cookies over (`cookies()`) and its own request context replaces this one.
"""

from __future__ import annotations

from collections.abc import Mapping
from http.cookiejar import Cookie
from typing import Any

import httpx
from playwright.async_api import Error as PlaywrightError


class HttpxResponse:
    def __init__(self, response: httpx.Response) -> None:
        self.url = str(response.url)
        self.status = response.status_code
        self.headers = {k.lower(): v for k, v in response.headers.items()}
        self._text = response.text

    async def text(self) -> str:
        return self._text

    async def dispose(self) -> None:
        self._text = ""


class HttpxRequests:
    """`get`/`post` like Playwright's request context, with the cookies of a storage state."""

    def __init__(self, *, timeout_seconds: float, storage_state: Mapping[str, Any] | None = None) -> None:
        # trust_env off: like Playwright's own requests, ignore proxy variables (the backend is the
        # seller's site, reached as the browser reaches it).
        self.client = httpx.AsyncClient(
            follow_redirects=True, timeout=timeout_seconds, trust_env=False, max_redirects=20
        )
        self._origins: list[Any] = []
        if storage_state:
            self.add_cookies(list(storage_state.get("cookies", [])))
            self._origins = list(storage_state.get("origins", []))

    def add_cookies(self, cookies: list[Mapping[str, Any]]) -> None:
        for c in cookies:
            self.client.cookies.set(
                str(c["name"]), str(c["value"]), domain=str(c.get("domain", "")), path=str(c.get("path", "/"))
            )

    def cookies(self) -> list[dict[str, Any]]:
        """The cookies in Playwright's format (for `add_cookies` and storage states)."""
        return [_playwright_cookie(c) for c in self.client.cookies.jar]

    async def storage_state(self) -> dict[str, Any]:
        return {"cookies": self.cookies(), "origins": self._origins}

    async def get(
        self, url: str, *, timeout: float | None = None, headers: Mapping[str, str] | None = None
    ) -> HttpxResponse:
        return await self._send("GET", url, timeout=timeout, headers=headers)

    async def post(
        self, url: str, *, form: Mapping[str, Any] | None = None, timeout: float | None = None
    ) -> HttpxResponse:
        data = {k: str(v) for k, v in (form or {}).items()}
        return await self._send("POST", url, timeout=timeout, data=data)

    async def _send(self, method: str, url: str, *, timeout: float | None, **kwargs: Any) -> HttpxResponse:
        seconds = timeout / 1000 if timeout else httpx.USE_CLIENT_DEFAULT
        try:
            response = await self.client.request(method, url, timeout=seconds, **kwargs)
        except httpx.HTTPError as exc:
            raise PlaywrightError(f"{type(exc).__name__}: {exc}") from exc
        return HttpxResponse(response)

    async def dispose(self) -> None:
        await self.client.aclose()


def _playwright_cookie(c: Cookie) -> dict[str, Any]:
    same_site = c.get_nonstandard_attr("SameSite") or "Lax"
    return {
        "name": c.name,
        "value": c.value or "",
        "domain": c.domain,
        "path": c.path or "/",
        "expires": float(c.expires) if c.expires is not None else -1,
        "httpOnly": c.has_nonstandard_attr("HttpOnly") or c.has_nonstandard_attr("httponly"),
        "secure": bool(c.secure),
        "sameSite": same_site.capitalize() if same_site.lower() in ("lax", "strict", "none") else "Lax",
    }

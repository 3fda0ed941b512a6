"""The hub client: the only part of the agent that talks HTTP to the sharing hub (docs/hub-api.md).

Behaviour worth knowing:
- Retries transport errors, 5xx and 429 with exponential backoff and jitter, honouring `Retry-After`
  (seconds or an HTTP date). A `Retry-After` longer than `max_wait` is not slept through inside a cycle:
  the request fails with `HubRateLimited` (a `HubUnavailable`), so queued pushes stay queued.
- A 429 or quota answer is an error, never an answer: `entry()` returns None only on a real 404.
- The bearer token is never sent over plain HTTP except to a loopback address (`ConfigError` otherwise),
  and redirects are not followed (a redirect could carry the token elsewhere).
- `feed()` returns None on 304 (nothing new since the ETag) and raises `FeedCursorExpired` on 410.
- Nothing the hub sends is trusted (docs/safety.md, "A hostile or broken hub"): an answer over
  `max_response_bytes` is cut off, one that is not the JSON the API promises is a `HubBadAnswer`, the token
  is masked out of every answer before anything reads it (a hub that echoes it cannot make it reach the
  output or the local state), and member ids are checked and escaped before they go into a path.
"""

from __future__ import annotations

import email.utils
import ipaddress
import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx

from agent import __version__
from agent.config import Settings
from agent.errors import (
    ConfigError,
    FeedCursorExpired,
    HubBadAnswer,
    HubRateLimited,
    HubRejected,
    HubUnavailable,
)
from agent.hub_models import (
    FeedPage,
    LookupEntry,
    MalformedAnswer,
    PrivateRecord,
    PushCounts,
    RecordChange,
    Report,
    SharedEntry,
    valid_member_id,
)
from agent.log import MASK, register_secret

logger = logging.getLogger(__name__)
T = TypeVar("T")

POST_BATCH = 1000  # POST /v1/reports accepts 1..1000 reports
SNAPSHOT_MAX = 10_000  # PUT /v1/reports accepts 0..10000
MAX_BODY_BYTES = 1_000_000  # the hub refuses bodies over 1 MiB; stay a little under
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RESPONSE_BYTES = 8_000_000  # a feed page of 1000 entries is ~0.3 MB; anything this big is a broken hub
LOOKUP_BATCH = 50  # GET /v1/lookup takes 1..50 member ids
RECORD_BATCH = 500  # POST /v1/me/record takes 1..500 changes


def fits_one_put(reports: Sequence[Report]) -> bool:
    """Whether a snapshot fits one `PUT /v1/reports` (at most 10,000 reports, a body under 1 MiB)."""
    if len(reports) > SNAPSHOT_MAX:
        return False
    body = json.dumps({"reports": [r.to_json() for r in reports]}, ensure_ascii=False)
    return len(body.encode()) < MAX_BODY_BYTES


def is_loopback(host: str) -> bool:
    # Literally `localhost` or a loopback address. Not `*.localhost`: the resolver may send those anywhere.
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_transport_security(url: str) -> None:
    """Refuse to send a token over plain HTTP to anything but this machine."""
    parsed = httpx.URL(url)
    if parsed.scheme == "https":
        return
    if parsed.scheme == "http" and is_loopback(parsed.host):
        return
    raise ConfigError(
        f"hub.url must use https:// (plain http is only allowed to a loopback address), got {parsed.scheme}://"
        f"{parsed.host}",
        key="hub.url",
    )


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def describe_detail(detail: object) -> str:
    """The hub's message in one line: FastAPI's `detail` is a string or a list of validation errors."""
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        parts = []
        for item in detail[:5]:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                parts.append(f"{loc}: {item.get('msg', '')}".strip(": "))
        more = f" (+{len(detail) - 5} more)" if len(detail) > 5 else ""
        return "; ".join(parts) + more
    return "" if detail is None else str(detail)


def rejected_indexes(detail: object) -> set[int]:
    """Which items of a batch a 422 names (`loc` like ["body", "reports", 3, "name"])."""
    out: set[int] = set()
    if isinstance(detail, list):
        for item in detail:
            loc = item.get("loc", []) if isinstance(item, dict) else []
            for i, part in enumerate(loc[:-1]):
                if part == "reports" and isinstance(loc[i + 1], int):
                    out.add(loc[i + 1])
    return out


class HubClient:
    """A small synchronous client for one hub and one seller token."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 20.0,
        max_retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        max_wait: float = 60.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        check_transport_security(base_url)
        register_secret(token)  # masked in every log line from now on
        # Masked out of every answer; a token this short would mask ordinary text (no real one is).
        self._token = token.encode() if len(token) >= 8 else b""
        self.max_response_bytes = max_response_bytes
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_wait = max_wait
        self._sleep = sleep
        self.request_count = 0  # every HTTP request sent, retries included (benchmarks read it)
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}", "User-Agent": f"blacklist-agent/{__version__}"},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
            follow_redirects=False,
        )

    @classmethod
    def from_settings(cls, settings: Settings, *, transport: httpx.BaseTransport | None = None) -> HubClient:
        """The hub of `settings.hub`, with the token from the keyring (or its env fallback)."""
        from agent.secrets import hub_token

        if not settings.hub.url:
            raise ConfigError("hub.url is not set: this agent has no hub to share with", key="hub.url")
        check_transport_security(settings.hub.url)  # before the token is even read
        return cls(
            settings.hub.url, hub_token(settings), timeout=settings.hub.timeout_seconds, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- the API ------------------------------------------------------------------------------------
    def me(self) -> dict[str, Any]:
        return dict(_as_object(self._json(self._send("GET", "/v1/me")), "GET /v1/me"))

    def push_reports(self, reports: Sequence[Report]) -> PushCounts:
        """Upsert some of our reports (POST, in batches of 1000); re-sending confirms them."""
        total = PushCounts()
        for start in range(0, len(reports), POST_BATCH):
            batch = reports[start : start + POST_BATCH]
            body = {"reports": [r.to_json() for r in batch]}
            total += self._read(PushCounts.from_json, self._send("POST", "/v1/reports", json=body))
        return total

    def put_snapshot(self, reports: Sequence[Report]) -> PushCounts:
        """Replace our whole set of reports atomically (PUT); the hub withdraws the rest."""
        if len(reports) > SNAPSHOT_MAX:
            raise ValueError(
                f"a snapshot holds at most {SNAPSHOT_MAX} reports; use share.push_large_snapshot"
            )
        body = {"reports": [r.to_json() for r in reports]}
        return self._read(PushCounts.from_json, self._send("PUT", "/v1/reports", json=body))

    def withdraw(self, member_id: str) -> bool:
        """Withdraw one of our reports; False when the hub had none (already withdrawn: fine)."""
        response = self._send("DELETE", f"/v1/reports/{member_path(member_id)}", expected=(404,))
        return response.status_code == 200

    def feed(
        self, cursor: int, *, etag: str | None = None, limit: int = 1000, wait: int = 0
    ) -> FeedPage | None:
        """One page of changes after `cursor`; None when the ETag says nothing changed.

        `wait` (1..60 s): a long poll, held by the hub until something changes after the cursor or the
        wait ends (docs/hub-api.md, "Waiting for changes"); the read timeout grows to cover it.
        """
        headers = {"If-None-Match": etag} if etag else {}
        params: dict[str, Any] = {"cursor": cursor, "limit": limit}
        timeout: float | None = None
        if wait > 0:
            params["wait"] = wait
            timeout = wait + 15.0
        response = self._send(
            "GET", "/v1/feed", params=params, headers=headers, expected=(304, 410), timeout=timeout
        )
        if response.status_code == 304:
            return None
        if response.status_code == 410:
            raise FeedCursorExpired(
                f"the hub can no longer serve changes since cursor {cursor}", status_code=410, detail=None
            )
        new_etag = response.headers.get("ETag")
        if new_etag is not None and len(new_etag) > 200:
            new_etag = None  # an ETag is a short tag; a huge one is not worth keeping
        return self._read(lambda data: FeedPage.from_json(data, new_etag, max_changes=limit), response)

    def entry(self, member_id: str) -> SharedEntry | None:
        """The pooled entry for a buyer, or None when the hub has none (only a real 404 means that)."""
        response = self._send("GET", f"/v1/entries/{member_path(member_id)}", expected=(404,))
        if response.status_code == 404:
            return None
        return self._read(SharedEntry.from_json, response)

    def lookup(self, member_ids: Sequence[str]) -> list[LookupEntry]:
        """`GET /v1/lookup` for up to 50 buyers at a time: the live entries among them, with `own_report`.

        Entries that cannot be read are left out (a broken entry must not hide the others).
        """
        ids = [m for m in dict.fromkeys(member_ids) if valid_member_id(m)]
        out: list[LookupEntry] = []
        for start in range(0, len(ids), LOOKUP_BATCH):
            batch = ids[start : start + LOOKUP_BATCH]
            response = self._send("GET", "/v1/lookup", params={"member_id": batch})
            data = _as_object(self._json(response), "GET /v1/lookup")
            items = data.get("entries")
            if not isinstance(items, list):
                raise HubBadAnswer("the hub's answer to GET /v1/lookup has no list of entries")
            asked = set(batch)
            for item in items:
                try:
                    found = LookupEntry.from_json(item)
                except MalformedAnswer as exc:
                    logger.warning("skipped an unreadable entry in the hub's lookup answer: %s", exc)
                    continue
                if found.entry.member_id in asked:  # never take in an answer about a buyer not asked about
                    out.append(found)
        return out

    def record(self) -> PrivateRecord:
        """`GET /v1/me/record`: what this seller's agents added automatically, and its allowlist."""
        return self._read(PrivateRecord.from_json, self._send("GET", "/v1/me/record"))

    def post_record(self, changes: Sequence[RecordChange]) -> int:
        """Send changes of the private record (in batches of 500); returns how many the hub applied."""
        applied = 0
        for start in range(0, len(changes), RECORD_BATCH):
            body = {"changes": [c.to_json() for c in changes[start : start + RECORD_BATCH]]}
            response = self._send("POST", "/v1/me/record", json=body)
            data = _as_object(self._json(response), "POST /v1/me/record")
            count = data.get("applied", 0)
            applied += count if isinstance(count, int) and not isinstance(count, bool) else 0
        return applied

    def health(self) -> dict[str, Any]:
        return dict(_as_object(self._json(self._send("GET", "/healthz")), "GET /healthz"))

    # --- reading answers --------------------------------------------------------------------------------
    def _json(self, response: httpx.Response) -> object:
        what = f"{response.request.method} {response.request.url.path}"
        try:
            return response.json()
        except ValueError:
            kind = response.headers.get("Content-Type", "no content type")
            raise HubBadAnswer(f"the hub's answer to {what} is not JSON ({kind})") from None

    def _read(self, parse: Callable[[object], T], response: httpx.Response) -> T:
        what = f"{response.request.method} {response.request.url.path}"
        try:
            return parse(self._json(response))
        except MalformedAnswer as exc:
            raise HubBadAnswer(f"the hub's answer to {what} is malformed: {exc}") from None

    # --- transport discipline -------------------------------------------------------------------------
    def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        expected: Iterable[int] = (),
        timeout: float | None = None,
    ) -> httpx.Response:
        expected = frozenset(expected)
        what = f"{method} {path}"
        last_problem = "no answer"
        retry_after: float | None = None
        for attempt in range(self.max_retries + 1):
            if attempt:
                self._pause(attempt, retry_after)
            retry_after = None
            self.request_count += 1
            try:
                response = self._request(
                    method,
                    path,
                    json=json,
                    params=params,
                    headers=headers,
                    timeout=httpx.USE_CLIENT_DEFAULT
                    if timeout is None
                    else httpx.Timeout(timeout, connect=10.0),
                )
            except httpx.TransportError as exc:
                last_problem = f"{type(exc).__name__}: {exc}"
                logger.warning("hub %s failed (attempt %d): %s", what, attempt + 1, last_problem)
                continue
            status = response.status_code
            if status < 300 or status in expected:
                return response
            if status in _RETRY_STATUSES:
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                last_problem = f"HTTP {status}"
                logger.warning("hub %s answered %d (attempt %d)", what, status, attempt + 1)
                if retry_after is not None and retry_after > self.max_wait:
                    break  # a quota that resets later: do not hold the cycle hostage
                continue
            detail = _detail(response)
            raise HubRejected(
                f"the hub refused {what}: HTTP {status} {describe_detail(detail)}".rstrip(),
                status_code=status,
                detail=detail,
            )
        if last_problem == "HTTP 429":
            raise HubRateLimited(
                f"the hub is rate-limiting {what} (retry after {retry_after or 'a while'} s)",
                retry_after=retry_after,
            )
        raise HubUnavailable(
            f"the hub did not answer {what} after {self.max_retries + 1} attempts: {last_problem}"
        )

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send one request and read at most `max_response_bytes` of the answer, with the token masked."""
        request = self._http.build_request(method, path, **kwargs)
        response = self._http.send(request, stream=True)
        try:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > self.max_response_bytes:
                raise HubBadAnswer(self._too_big(method, path))
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > self.max_response_bytes:
                    raise HubBadAnswer(self._too_big(method, path))
        finally:
            response.close()
        token = self._token.decode()
        headers = [
            (k, v.replace(token, MASK) if token else v)
            for k, v in response.headers.items()
            if k.lower() not in ("content-encoding", "content-length")
        ]
        content = bytes(body).replace(self._token, MASK.encode()) if token else bytes(body)
        return httpx.Response(response.status_code, headers=headers, content=content, request=request)

    def _too_big(self, method: str, path: str) -> str:
        return f"the hub's answer to {method} {path} is larger than {self.max_response_bytes} bytes"

    def _pause(self, attempt: int, retry_after: float | None) -> None:
        if retry_after is not None:
            delay = retry_after
        else:
            delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1)) * random.uniform(0.5, 1.5)
        if delay > 0:
            self._sleep(delay)


def member_path(member_id: str) -> str:
    """A member id as one path segment: checked (ValueError names it) and escaped, so `123?x` or
    `9/../../feed` can never reach another endpoint."""
    if not valid_member_id(member_id):
        raise ValueError(f"not a member id: {member_id[:40]!r}")
    return quote(member_id, safe="")


def _as_object(data: object, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise HubBadAnswer(f"the hub's answer to {what} is not a JSON object")
    return data


def _detail(response: httpx.Response) -> object:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    return body.get("detail") if isinstance(body, dict) else body

"""`GET /v1/feed`: the route thousands of agents poll (contract: docs/hub-api.md, "The feed").

Kept apart from the other routes because its cheap path (a conditional poll answered 304) is what decides
how many agents one hub process serves.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from hub.api import AUTH_RESPONSES, MAX_CURSOR, Credentials, Ctx, admit, bearer_token
from hub.feed import read_page
from hub.schemas import ErrorOut, FeedPage
from hub.sellers import authenticate_with_feed_state

router = APIRouter()


@router.get(
    "/v1/feed",
    response_model=FeedPage,
    responses={
        **AUTH_RESPONSES,
        304: {"description": "Nothing changed since the response carrying this ETag."},
        410: {"model": ErrorOut, "description": "The hub can no longer serve this cursor: re-pull from 0."},
    },
    tags=["feed"],
)
def get_feed(
    request: Request,
    ctx: Ctx,
    credentials: Credentials,
    cursor: Annotated[int, Query(ge=0, le=MAX_CURSOR)] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> Response:
    """Entry changes after `cursor`, oldest first, with tombstones (`deleted: true`)."""
    limit = min(limit, ctx.settings.feed_page_max)
    ctx.maybe_sweep()
    token = bearer_token(credentials)
    # One read transaction for authentication and the page, and one SELECT for the token and the feed state:
    # this is the endpoint thousands of agents poll, and a 304 needs nothing else.
    with ctx.db.read() as session:
        found = authenticate_with_feed_state(session, token)
        admit(ctx, found[0] if found is not None else None)
        assert found is not None  # admit raised otherwise
        state = found[1]
        state.check(cursor)
        unchanged = state.not_modified(request.headers.get("if-none-match"), cursor, limit)
        if unchanged is not None:
            return Response(status_code=304, headers={"ETag": unchanged})
        page = read_page(session, state, cursor, limit)
    etag = state.etag(cursor, limit, page)
    return Response(page.to_json(), media_type="application/json", headers={"ETag": etag})

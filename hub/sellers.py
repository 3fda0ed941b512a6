"""Sellers and their tokens.

A token is 32 random bytes (URL-safe base64, prefixed `bh_` so it is recognisable in a secret scanner); the
hub stores only its SHA-256, which is enough for a high-entropy secret (no salt or slow hash needed: there is
nothing to brute-force). Tokens are shown once, by `seller add` / `rotate-token`, and never logged.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from hub.entries import refresh_entries
from hub.feed import FeedState
from hub.models import HubState, Report, Seller
from hub.scoring import Ageing

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "bh_"  # noqa: S105 - a marker, not a secret


class SellerNotFound(LookupError):
    pass


class SellerExists(ValueError):
    pass


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create_seller(session: Session, name: str, store_id: str, now: datetime) -> tuple[Seller, str]:
    """Register a seller; returns it with its token (the only time the token exists in clear)."""
    name, store_id = name.strip(), store_id.strip()
    if not name or not store_id:
        raise ValueError("a seller needs a non-empty name and store id")
    clash = session.execute(
        select(Seller).where((Seller.name == name) | (Seller.store_id == store_id))
    ).scalar_one_or_none()
    if clash is not None:
        raise SellerExists(f"a seller with this name or store id already exists (id {clash.id})")
    token = new_token()
    seller = Seller(
        name=name,
        store_id=store_id,
        token_hash=hash_token(token),
        enabled=True,
        standing=1.0,
        created_at=now,
        token_rotated_at=now,
    )
    session.add(seller)
    session.flush()
    logger.info("seller %s (id %d) added", name, seller.id)
    return seller, token


def find_seller(session: Session, name: str | None = None, *, seller_id: int | None = None) -> Seller:
    """The seller with this name, or with this id: never one for the other (a seller may be named "2")."""
    if seller_id is not None:
        seller = session.get(Seller, seller_id)
        if seller is None:
            raise SellerNotFound(f"no seller with id {seller_id}")
        return seller
    seller = session.execute(select(Seller).where(Seller.name == name)).scalar_one_or_none()
    if seller is None:
        hint = f"; for the seller with id {name}, use --id {name}" if name and name.isdigit() else ""
        raise SellerNotFound(f"no seller named {name!r}{hint}")
    return seller


@dataclass(frozen=True)
class Identity:
    """Who a token belongs to (plain data: this runs on every request)."""

    id: int
    name: str
    store_id: str
    enabled: bool


def _identity_query(token: str) -> Select[int, str, str, bool]:
    return select(Seller.id, Seller.name, Seller.store_id, Seller.enabled).where(
        Seller.token_hash == hash_token(token)
    )


def authenticate(session: Session, token: str) -> Identity | None:
    row = session.execute(_identity_query(token)).one_or_none()
    return Identity(row.id, row.name, row.store_id, bool(row.enabled)) if row is not None else None


def authenticate_with_feed_state(session: Session, token: str) -> tuple[Identity, FeedState] | None:
    """`authenticate` and `feed_state` in one SELECT: the feed poll's only query when it answers 304."""
    stmt = (
        _identity_query(token)
        .add_columns(HubState.last_seq, HubState.horizon_seq)
        .join(HubState, HubState.id == 1)
    )
    row = session.execute(stmt).one_or_none()
    if row is None:
        return None
    identity = Identity(row.id, row.name, row.store_id, bool(row.enabled))
    return identity, FeedState(int(row.last_seq), int(row.horizon_seq))


def rotate_token(session: Session, seller: Seller, now: datetime) -> str:
    token = new_token()
    seller.token_hash = hash_token(token)
    seller.token_rotated_at = now
    logger.info("seller %s (id %d): token rotated", seller.name, seller.id)
    return token


def _reported_member_ids(session: Session, seller_id: int) -> Sequence[str]:
    stmt = select(Report.member_id).where(Report.seller_id == seller_id, Report.withdrawn_at.is_(None))
    return list(session.execute(stmt).scalars())


def set_enabled(session: Session, seller: Seller, enabled: bool, now: datetime, ageing: Ageing) -> int:
    """Enable or disable a seller; its reports start or stop counting in this same transaction.

    Returns the number of feed changes this caused.
    """
    if seller.enabled == enabled:
        return 0
    seller.enabled = enabled
    session.flush()
    changes = refresh_entries(session, _reported_member_ids(session, seller.id), now, ageing)
    logger.info("seller %s (id %d) %s", seller.name, seller.id, "enabled" if enabled else "disabled")
    return changes


def set_standing(session: Session, seller: Seller, standing: float, now: datetime, ageing: Ageing) -> int:
    """Change how much the seller's reports weigh in scores (0..1); returns the feed changes caused."""
    if not 0.0 <= standing <= 1.0:
        raise ValueError("standing must be between 0 and 1")
    seller.standing = standing
    session.flush()
    return refresh_entries(session, _reported_member_ids(session, seller.id), now, ageing)

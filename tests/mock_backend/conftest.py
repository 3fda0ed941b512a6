"""Fixtures for the mock backend's own tests: a seller signed in over plain HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from fixtures.mock_backend.testing import MockControl, SellerClient


@pytest.fixture
def new_seller(mock_backend: MockControl) -> Iterator[Callable[..., SellerClient]]:
    """Factory: a SellerClient, signed in to `store_id` unless `login=False`."""
    clients: list[SellerClient] = []

    def make(store_id: str = "store-a", *, login: bool = True) -> SellerClient:
        client = SellerClient(mock_backend.url)
        clients.append(client)
        if login:
            response = client.login(*mock_backend.credentials(store_id))
            assert response.status_code == 303, "the seeded credentials must work"
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def seller(new_seller: Callable[..., SellerClient]) -> SellerClient:
    """The seller of store-a, signed in."""
    return new_seller()

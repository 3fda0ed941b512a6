"""The saved backend session: owner-only on disk, reused by the next run, renewed when it has ended."""

from __future__ import annotations

import stat
from pathlib import Path

from backend_helpers import OpenStore

from fixtures.mock_backend.testing import MockControl


def test_session_is_saved_owner_only_reused_and_renewed(
    open_store: OpenStore, mock_backend: MockControl, tmp_path: Path
) -> None:
    data_dir = tmp_path / "agent-a"
    _, password = mock_backend.credentials()
    first = open_store(data_dir=data_dir)
    first.read_blacklist()
    first.close()
    session = data_dir / "session" / "storage_state.json"
    assert stat.S_IMODE(session.stat().st_mode) == 0o600
    assert stat.S_IMODE(session.parent.stat().st_mode) == 0o700
    assert password not in session.read_text(encoding="utf-8")

    second = open_store(data_dir=data_dir)
    assert [e.member_id for e in second.read_blacklist()] == mock_backend.blacklist_ids()
    assert second.logins == 0  # the saved session was enough

    mock_backend.expire_sessions("store-a")  # the backend ends it: the driver logs in again, once
    assert [e.member_id for e in second.read_blacklist()] == mock_backend.blacklist_ids()
    assert second.logins == 1

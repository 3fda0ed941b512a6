"""Failure artifacts may show the seller's customers: owner-only files, and only the newest few kept."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

from agent.backend.artifacts import ArtifactStore


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_artifacts_are_owner_only_and_pruned_to_the_newest(tmp_path: Path) -> None:
    folder = tmp_path / "artifacts"
    store = ArtifactStore(folder, keep=3)
    saved = [asyncio.run(store.save(f"customers-row-{i}", html=f"<p>{i}</p>")) for i in range(5)]
    assert all(len(paths) == 1 for paths in saved)  # no browser runs: the HTML only
    left = sorted(folder.iterdir())
    assert [p.read_text() for p in left] == ["<p>2</p>", "<p>3</p>", "<p>4</p>"]
    assert {mode(p) for p in left} == {0o600}
    assert mode(folder) == 0o700


def test_an_existing_world_readable_file_is_made_private_and_old_pngs_go_with_their_html(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "artifacts"
    folder.mkdir(mode=0o755)
    for stem in ("20200101T000000.000000-old", "20200101T000001.000000-older"):
        (folder / f"{stem}.html").write_text("x")
        (folder / f"{stem}.png").write_bytes(b"x")
    store = ArtifactStore(folder, keep=1)
    (path,) = asyncio.run(store.save("orders", html="<p>new</p>"))
    assert sorted(p.name for p in folder.iterdir()) == [path.name]
    assert mode(path) == 0o600
    assert mode(folder) == 0o700

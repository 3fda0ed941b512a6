"""The README's first command: `blacklist-agent demo` tells the story, exits 0 and leaves nothing behind."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    # Not pytest's tmp_path: Chromium's profile goes under TMPDIR, and a long path there overflows the
    # length limit of the Unix socket paths Chromium creates in its profile.
    with tempfile.TemporaryDirectory(prefix="demo") as folder:
        yield Path(folder)


def test_demo_tells_the_story_and_leaves_nothing_behind(short_tmp: Path) -> None:
    tmp, home = short_tmp / "tmp", short_tmp / "home"
    tmp.mkdir()
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BLACKLIST_AGENT_", "XDG_"))}
    env.update(TMPDIR=str(tmp), HOME=str(home), COLUMNS="120")
    # The user's keyring (a file keyring under HOME here) and config must stay untouched.
    env["PYTHON_KEYRING_BACKEND"] = "keyrings.alt.file.PlaintextKeyring"

    demo = subprocess.run(
        [str(Path(sys.executable).with_name("blacklist-agent")), "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )

    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "X's order in store C is refused (HTTP 403)" in demo.stdout
    assert "✘" not in demo.stdout
    assert list(tmp.iterdir()) == []  # temporary folders, databases and browser profiles are gone
    written = {p.relative_to(home).as_posix() for p in home.rglob("*")}
    assert not {p for p in written if "keyring" in p or "blacklist" in p}, written

"""The README's first command: `blacklist-agent demo` tells the story, exits 0 and leaves nothing behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def test_demo_tells_the_story_and_cleans_up(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLACKLIST_AGENT_")}
    env.update(TMPDIR=str(tmp_path), COLUMNS="120")
    # A config pointing nowhere: the demo must not read the user's config (nor their keyring).
    env["BLACKLIST_AGENT_CONFIG"] = str(tmp_path / "no-such-config.toml")

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
    assert list(tmp_path.iterdir()) == []  # its temporary folders are gone

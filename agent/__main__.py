"""`python -m agent`: the same as the `blacklist-agent` command."""

from __future__ import annotations

from agent.cli import main

if __name__ == "__main__":
    main()

"""Where the agent keeps its files by default, and which config file a command reads.

Several agents can run side by side on one machine: each has its own config file (`--config`) whose
`data_dir` holds that agent's state, session and logs, so nothing here is shared between them except
the defaults.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "blacklist-agent"
CONFIG_ENV = "BLACKLIST_AGENT_CONFIG"
CONFIG_FILE_NAME = "config.toml"


def default_config_path() -> Path:
    """The per-user config file (e.g. ~/.config/blacklist-agent/config.toml on Linux)."""
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / CONFIG_FILE_NAME


def default_data_dir() -> Path:
    """The per-user data dir (e.g. ~/.local/share/blacklist-agent on Linux)."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def resolve_config_path(explicit: Path | None = None) -> Path:
    """`--config PATH`, else `$BLACKLIST_AGENT_CONFIG`, else the user config dir's config.toml."""
    if explicit is not None:
        return explicit.expanduser()
    from_env = os.environ.get(CONFIG_ENV, "").strip()
    if from_env:
        return Path(from_env).expanduser()
    return default_config_path()


def config_path_is_explicit(explicit: Path | None = None) -> bool:
    """True when the user named a config file (flag or env), so a missing file is an error."""
    return explicit is not None or bool(os.environ.get(CONFIG_ENV, "").strip())


def private_dir(path: Path) -> Path:
    """Create `path` (and its parents) owner-only (0700), tightening one that exists: the data dir holds
    buyer names, orders and the backend session (docs/safety.md, "A hostile or broken hub")."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if os.name == "posix":
        path.chmod(0o700)
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty if missing, and make it owner-only (0600) either way."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        if os.name == "posix":
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    return path

"""One service per store: which service belongs to which config, and the name a new one gets.

A service's file records the config it runs (`--config PATH` in its command), so the files on disk say which
store each installed service serves: `installed_services` reads them back, `service_name_for` picks this
config's name, and `conflicting_file` finds a file that would be replaced under another store's agent.
"""

from __future__ import annotations

import os
import plistlib
import re
import shlex
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from agent.service.platforms import (
    BASE_NAME,
    LAUNCHD_LABEL,
    MAX_NAME,
    ServicePlan,
    current_platform,
    systemd_unit_path,
)


def validate_name(name: str | None) -> str | None:
    """Instance names become file names and unit names: letters, digits, `-` and `_` only."""
    if name is None or name == "":
        return None
    if not all(c.isascii() and (c.isalnum() or c in "-_") for c in name) or len(name) > MAX_NAME:
        raise ValueError(f"service name {name!r}: use up to {MAX_NAME} letters, digits, '-' or '_'")
    return name


def name_from_login(username: str) -> str:
    """A service name from the store's login: `Ann@Shop.example` → `ann-shop-example`."""
    slug = re.sub(r"[^a-z0-9]+", "-", username.lower()).strip("-")[:30].strip("-")
    return slug or "store"


@dataclass(frozen=True, slots=True)
class InstalledService:
    """A service file of this agent found on disk, and the config its command runs."""

    name: str | None  # the instance name (None: the plain `blacklist-agent`)
    path: Path
    config_path: Path | None


def service_name_for(
    config_path: Path,
    username: str,
    *,
    installed: list[InstalledService],
    is_default_config: bool,
) -> str | None:
    """The instance name of this config's service: the one installed for it, else None (the plain
    `blacklist-agent`) for the default config, else one named after the store's login."""
    for service in installed:
        if service.config_path == config_path:
            return service.name
    if is_default_config:
        return None
    return name_from_login(username)


def installed_services(
    *,
    platform: str | None = None,
    home: Path | None = None,
    env: dict[str, str] | None = None,
    working_dir: Path | None = None,
) -> list[InstalledService]:
    """This agent's service files on this machine (Windows: in this store's data dir, where they live)."""
    platform = platform or current_platform()
    home = home or Path.home()
    env = dict(os.environ) if env is None else env
    if platform == "linux":
        unit_dir = systemd_unit_path(BASE_NAME, home=home, env=env).parent
        folder, base, separator, suffix = unit_dir, BASE_NAME, "-", ".service"
        read_config = _config_of_unit
    elif platform == "macos":
        folder, base, separator, suffix = home / "Library" / "LaunchAgents", LAUNCHD_LABEL, ".", ".plist"
        read_config = _config_of_plist
    elif platform == "windows" and working_dir is not None:
        folder, base, separator, suffix = working_dir, BASE_NAME, "-", ".task.xml"
        read_config = _config_of_task
    else:
        return []
    found: list[InstalledService] = []
    for path in sorted(folder.glob(f"{base}*{suffix}")):
        stem = path.name.removesuffix(suffix)
        name = None if stem == base else stem.removeprefix(base + separator)
        if name is not None and (stem == name or not _valid(name)):
            continue  # another program's file that merely starts like ours
        found.append(InstalledService(name, path, read_config(path)))
    return found


def _valid(name: str) -> bool:
    try:
        return validate_name(name) is not None
    except ValueError:
        return False


def _config_after_flag(argv: list[str]) -> Path | None:
    if "--config" in argv[:-1]:
        return Path(argv[argv.index("--config") + 1])
    return None


def _config_of_unit(path: Path) -> Path | None:
    try:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("ExecStart="):
                return _config_after_flag(shlex.split(line.removeprefix("ExecStart=").replace("%%", "%")))
    except (OSError, ValueError):
        pass
    return None


def _config_of_plist(path: Path) -> Path | None:
    try:
        data = plistlib.loads(path.read_bytes())
        return _config_after_flag([str(a) for a in data.get("ProgramArguments", [])])
    except (OSError, ValueError, plistlib.InvalidFileException):
        return None


def _config_of_task(path: Path) -> Path | None:
    try:
        root = ET.fromstring(path.read_bytes())  # noqa: S314 (a file this module wrote)
    except (OSError, ET.ParseError):
        return None
    for element in root.iter():
        if element.tag.endswith("Arguments") and element.text:
            match = re.search(r'--config (?:"([^"]+)"|(\S+))', element.text)
            if match:
                return Path(match.group(1) or match.group(2))
    return None


def conflicting_file(plan: ServicePlan, config_path: Path) -> tuple[Path, Path | None] | None:
    """An existing service file of `plan` that runs another config than `config_path`, if any."""
    readers = {"linux": _config_of_unit, "macos": _config_of_plist, "windows": _config_of_task}
    for path in plan.files:
        if path.exists():
            current = readers[plan.platform](path)
            if current != config_path:
                return path, current
    return None

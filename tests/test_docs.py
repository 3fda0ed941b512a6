"""Every command of every program has help text and is shown in README.md (STYLE.md, habit 7)."""

from __future__ import annotations

import importlib
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SCRIPTS: dict[str, str] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
    "scripts"
]


def root_command(entry_point: str) -> Any:
    """The click command behind a `module:function` entry point (its module's Typer `app`)."""
    module_name, _, _ = entry_point.partition(":")
    module = importlib.import_module(module_name)
    app = getattr(module, "app", None)
    assert isinstance(app, typer.Typer), f"{module_name} has no Typer `app` to inspect"
    return typer.main.get_command(app)


def walk(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(path, command) for every group and command below `command`."""
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        if sub.hidden:
            continue
        yield (*path, name), sub
        yield from walk(sub, (*path, name))


def shown_in_readme(program: str, words: tuple[str, ...]) -> bool:
    # `blacklist-agent blacklist list`, also with global options between (`blacklist-agent --config x init`).
    pattern = (
        re.escape(program)
        + r"(?:\s+-[\w-]+(?:[ =](?!-)\S+)?)*?\s+"
        + r"\s+".join(re.escape(word) for word in words)
        + r"(?![\w-])"
    )
    return re.search(pattern, README) is not None


@pytest.mark.parametrize("program", sorted(SCRIPTS))
def test_every_command_has_help_and_appears_in_readme(program: str) -> None:
    commands = list(walk(root_command(SCRIPTS[program])))
    assert commands, f"{program} has no commands"
    no_help = [" ".join(path) for path, cmd in commands if not (cmd.help or "").strip()]
    assert not no_help, f"{program}: commands without help text: {no_help}"
    leaves = [path for path, cmd in commands if not getattr(cmd, "commands", None)]
    missing = [" ".join(path) for path in leaves if not shown_in_readme(program, path)]
    assert not missing, f"README.md never shows `{program} <command>` for: {missing}"

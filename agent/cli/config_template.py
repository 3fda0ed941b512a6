"""The commented config file `init` writes: config.example.toml with the user's values filled in.

The example is the single source of the file's text (and a test keeps it in step with `Settings`), so the
file a seller gets explains every key exactly as the shipped example does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

import agent
from agent.errors import AgentError

EXAMPLE_NAME = "config.example.toml"

_SECTION = re.compile(r"^\[(\w+)\]\s*$")


def example_path() -> Path:
    """The shipped example: inside the package when installed from a wheel, else at the repo root."""
    package_dir = Path(agent.__file__).resolve().parent
    for candidate in (package_dir / EXAMPLE_NAME, package_dir.parent / EXAMPLE_NAME):
        if candidate.is_file():
            return candidate
    raise AgentError(f"{EXAMPLE_NAME} is missing from this installation (looked in {package_dir})")


def toml_value(value: object) -> str:
    """A TOML literal for a string, path, bool or number (JSON strings are valid TOML basic strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)


def fill_template(template: str, values: Mapping[str, Mapping[str, object]]) -> str:
    """Set `values[section][key]` in the template, uncommenting `# key = ...` lines as needed.

    Section "" is the top level (before the first `[section]`). Every value must find its line: a key
    missing from the template is a bug, not something to append silently.
    """
    pending = {(section, key) for section, keys in values.items() for key in keys}
    section = ""
    out: list[str] = []
    for line in template.splitlines(keepends=True):
        header = _SECTION.match(line)
        if header:
            section = header.group(1)
        else:
            assignment = re.match(r"^#?\s*(\w+)\s*=", line)
            if assignment and (section, assignment.group(1)) in pending:
                key = assignment.group(1)
                pending.discard((section, key))
                line = f"{key} = {toml_value(values[section][key])}\n"
        out.append(line)
    if pending:
        missing = ", ".join(f"{s}.{k}" if s else k for s, k in sorted(pending))
        raise AgentError(f"{EXAMPLE_NAME} has no line for {missing}")
    return "".join(out)

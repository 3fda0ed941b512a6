"""Logging set-up for every agent process, and the filter that keeps secrets out of logs.

`configure_logging` is called by the CLI (and by the background agent) and nowhere else: a console handler
through rich on stderr (timestamped lines when not on a terminal), plus a rotating file in the agent's log
dir, owner-only (0600 files in a 0700 dir: a log line may name buyers and the seller's login). Both handlers
carry `RedactingFilter`, which removes every secret the agent has read (`register_secret`) and anything that
looks like a password, token, cookie or URL credential, from messages and tracebacks alike, and which names
the `--config` the user passed in every command a message suggests (`set_command_config`).

A record logged with `extra=FILE_ONLY` reaches the file but not the console: the CLI prints its errors itself,
and the same error twice on one screen reads as two failures.
"""

from __future__ import annotations

import io
import logging
import logging.handlers
import os
import re
import shlex
import sys
import threading
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.logging import RichHandler

LOG_FILE_NAME = "agent.log"
"""The background agent's log. One-shot commands log to CLI_LOG_FILE_NAME instead: a rotating file must have
one long-lived writer (on Windows, rotating a file another process holds open fails)."""
CLI_LOG_FILE_NAME = "cli.log"
MAX_LOG_BYTES = 2_000_000
LOG_BACKUPS = 5
MASK = "***"
# Shorter values would mask ordinary words all over the log; no real password or token is this short.
_MIN_SECRET_LENGTH = 4

_secrets: set[str] = set()
_secrets_lock = threading.Lock()

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # key=value, key: value, "key": "value" for secret-looking keys
    (
        re.compile(
            r"(?i)\b((?:[\w-]*password|passwd|pwd|[\w-]*token|api[_-]?key|secret|session[_-]?id|cookie|set-cookie)"
            r"[\"']?\s*[:=]\s*[\"']?)([^\s\"',;&]+)"
        ),
        r"\1" + MASK,
    ),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + MASK),
    # credentials inside a URL: scheme://user:password@host
    (re.compile(r"(://[^/\s:@]+:)[^/\s@]+@"), r"\1" + MASK + "@"),
)

FILE_ONLY: dict[str, Any] = {"file_only": True}
"""`extra=` for a record meant for the log file only (the CLI shows the same thing its own way)."""

# Libraries whose INFO lines narrate their own internals ("Added job", "Running job", each HTTP request):
# the seller watching `run` wants the agent's own lines. Their warnings and errors still get through.
_NOISY_LOGGERS = ("httpx", "httpcore", "asyncio", "urllib3", "apscheduler")

# A command suggested in a message: `blacklist-agent <words>`, not already naming a config.
_COMMAND = re.compile(r"`blacklist-agent (?!--config\b)")
# "`X` (or `X`)" once both name the same config
_SAME_COMMAND_TWICE = re.compile(r"(`[^`]+`) \(or \1\)")
_command_config: str | None = None

# Marks the handlers this module installed, so a second call replaces them instead of doubling output.
_OWN_HANDLER = "_blacklist_agent_handler"


def register_secret(value: str | None) -> None:
    """Remember a secret value so that it is masked wherever it would be logged."""
    if value and len(value) >= _MIN_SECRET_LENGTH:
        with _secrets_lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """`text` with every registered secret and every secret-looking value masked."""
    with _secrets_lock:
        known = sorted(_secrets, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def set_command_config(path: Path | None) -> None:
    """The `--config` the user passed (None: none), named in every command a message suggests."""
    global _command_config
    _command_config = shlex.quote(str(path)) if path is not None else None


def with_config(text: str) -> str:
    """`text` with `--config PATH` added to each suggested `blacklist-agent ...` command, when the user
    passed one: a suggestion without it would act on another store's agent (or on none)."""
    if _command_config is None:
        return text
    text = _COMMAND.sub(f"`blacklist-agent --config {_command_config} ", text)
    return _SAME_COMMAND_TWICE.sub(r"\1", text)


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's final message, traceback and stack before any handler formats it (and
    names the user's `--config` in suggested commands)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken %-format: let logging report it as usual
            return True
        record.msg = with_config(redact(message))
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def console_level(verbosity: int) -> int:
    """-v shows progress (INFO), -vv shows everything (DEBUG); by default only warnings and errors."""
    if verbosity >= 2:
        return logging.DEBUG
    if verbosity == 1:
        return logging.INFO
    return logging.WARNING


class _NotFileOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "file_only", False)


TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class _ConsoleFormatter(logging.Formatter):
    """`2026-05-04 10:15:02 sync cycle 1 done`: the level only when it is a warning or worse."""

    def __init__(self, *, with_names: bool) -> None:
        super().__init__("%(asctime)s %(message)s", TIME_FORMAT)
        self._with_names = with_names

    def formatMessage(self, record: logging.LogRecord) -> str:
        level = f" {record.levelname}" if record.levelno >= logging.WARNING else ""
        name = f" {record.name}:" if self._with_names else ""
        return f"{record.asctime}{level}{name} {record.message}"


def _console_handler(verbosity: int) -> logging.Handler:
    stderr = Console(stderr=True)
    handler: logging.Handler
    if stderr.is_terminal:
        handler = RichHandler(
            console=stderr,
            show_path=verbosity >= 2,
            markup=False,
            log_time_format=TIME_FORMAT,
            omit_repeated_times=False,
            # rich tracebacks would render frames (and possibly locals) past the redacting filter.
            rich_tracebacks=False,
        )
    else:
        # Piped or captured (services, CI, tests): plain timestamped lines, not a table squeezed to 80
        # columns. Module names are for debugging (-vv), not for the seller.
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_ConsoleFormatter(with_names=verbosity >= 2))
    handler.setLevel(console_level(verbosity))
    handler.addFilter(_NotFileOnly())
    return handler


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log file only its owner can read (every rotated file too: they are renamed from it)."""

    def _open(self) -> io.TextIOWrapper:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        if os.name == "posix":
            os.fchmod(fd, 0o600)  # a file left by an older agent, created with the umask's mode
        return open(fd, "a", encoding=self.encoding, errors=self.errors)  # rotating files always append


def private_log_dir(log_dir: Path) -> Path:
    """Create the log dir owner-only (0700), tightening one that exists."""
    log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if os.name == "posix":
        log_dir.chmod(0o700)
    return log_dir


def configure_logging(
    *,
    verbosity: int = 0,
    log_dir: Path | None = None,
    file_level: str | int = logging.INFO,
    console: bool = True,
    file_name: str = LOG_FILE_NAME,
) -> Path | None:
    """Install the console and file handlers on the root logger; returns the log file's path.

    Safe to call again (the CLI first sets up the console, then adds the file once the config is known):
    handlers installed by an earlier call are closed and replaced.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _OWN_HANDLER, False):
            root.removeHandler(handler)
            handler.close()

    handlers: list[logging.Handler] = []
    if console:
        handlers.append(_console_handler(verbosity))

    log_file: Path | None = None
    if log_dir is not None:
        log_file = private_log_dir(log_dir) / file_name
        file_handler = PrivateRotatingFileHandler(
            log_file, maxBytes=MAX_LOG_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
        )
        file_handler.setLevel(file_level)
        file_handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s [%(process)d] %(message)s")
        )
        handlers.append(file_handler)

    redacting = RedactingFilter()
    for handler in handlers:
        handler.addFilter(redacting)
        setattr(handler, _OWN_HANDLER, True)
        root.addHandler(handler)

    levels = [h.level for h in handlers] or [logging.WARNING]
    root.setLevel(min(levels))
    for noisy in _NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return log_file

"""Logging set-up for every agent process, and the filter that keeps secrets out of logs.

`configure_logging` is called by the CLI (and by the background agent) and nowhere else: a console handler
through rich on stderr, plus a rotating file in the agent's log dir. Both handlers carry `RedactingFilter`,
which removes every secret the agent has read (`register_secret`) and anything that looks like a password,
token, cookie or URL credential, from messages and tracebacks alike.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
import threading
from pathlib import Path

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


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's final message, traceback and stack before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken %-format: let logging report it as usual
            return True
        record.msg = redact(message)
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


def _console_handler(verbosity: int) -> logging.Handler:
    stderr = Console(stderr=True)
    handler: logging.Handler
    if stderr.is_terminal:
        handler = RichHandler(
            console=stderr,
            show_path=verbosity >= 2,
            markup=False,
            # rich tracebacks would render frames (and possibly locals) past the redacting filter.
            rich_tracebacks=False,
        )
    else:
        # Piped or captured (services, CI, tests): plain lines, not a table squeezed to 80 columns.
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.setLevel(console_level(verbosity))
    return handler


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
        log_dir.mkdir(parents=True, exist_ok=True)
        log_file = log_dir / file_name
        file_handler = logging.handlers.RotatingFileHandler(
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
    # Libraries that narrate every request drown the agent's own messages: httpx logs each hub request at
    # INFO, which `run` shows on its console. Their warnings and errors still get through.
    for noisy in ("httpx", "httpcore", "asyncio", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return log_file

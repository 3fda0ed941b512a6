"""How a text read from a page becomes a value: extraction, word maps, dates in the site's zone and format.

Pure functions over plain data (no page, no network), configured by the selectors file:
- `pattern`: a regular expression; its group `value`, else its first group, else the whole match is kept
  (`ID: 123456` -> `123456`). A text it does not find is unreadable, never guessed.
- `map`: the site's words for a value (`"Blacklisted 已拉黑" = "true"`); a word not in the map is unreadable.
- dates: ISO 8601, `epoch_ms`, `epoch_s` or a `strptime` format (`%Y/%m/%d %H:%M:%S`); `%b`/`%B` are English
  month names whatever the machine's locale. Times without an offset are in the site's timezone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ISO = "iso"
EPOCH_MS = "epoch_ms"
EPOCH_S = "epoch_s"
_SPACES = re.compile(r"\s+")
_OFFSET = re.compile(r"^(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH_WORD = re.compile(r"\b(" + "|".join(_MONTHS) + r")[a-z]*\.?", re.IGNORECASE)


class Unreadable(ValueError):
    """A text that a field's rule cannot turn into a value (the message says why, with the text)."""


def clean(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def parse_timezone(value: str) -> tzinfo:
    """`UTC`, a fixed offset (`+08:00`, `UTC+8`, `GMT-05:30`) or an IANA name (`Asia/Shanghai`)."""
    text = value.strip()
    if text.upper() in ("UTC", "GMT", "Z"):
        return UTC
    match = _OFFSET.match(text)
    if match:
        sign, hours, minutes = match.groups()
        delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
        if delta > timedelta(hours=14):
            raise ValueError(f"offset {value!r} is out of range")
        return timezone(-delta if sign == "-" else delta, text)
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown timezone {value!r} (use an IANA name like Asia/Shanghai, or an offset like +08:00)"
        ) from None


def check_date_format(fmt: str) -> None:
    """Raise ValueError when `fmt` is neither a known name nor a strptime format with a date in it."""
    if fmt in (ISO, EPOCH_MS, EPOCH_S):
        return
    if "%" not in fmt:
        raise ValueError(f"date format {fmt!r} is not `iso`, `epoch_ms`, `epoch_s` or a strptime format")
    probe = datetime(2026, 1, 19, 20, 54, 7)
    try:
        parse_date(format_date(probe, fmt, UTC), (fmt,), UTC)
    except (Unreadable, ValueError) as exc:
        raise ValueError(f"date format {fmt!r} cannot read what it writes: {exc}") from None


def parse_date(text: str | None, formats: Sequence[str], zone: tzinfo) -> datetime | None:
    """An aware datetime, None for an empty cell (no digit in it: `-`, `—`, ``); Unreadable otherwise."""
    if text is None or not any(ch.isdigit() for ch in text):
        return None
    value = clean(text)
    for fmt in formats or (ISO,):
        parsed = _try(value, fmt)
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)
    shown = ", ".join(formats or (ISO,))
    raise Unreadable(f"{value!r} is not a date in the format {shown}")


def _try(value: str, fmt: str) -> datetime | None:
    try:
        if fmt == ISO:
            return datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "T", 1))
        if fmt in (EPOCH_MS, EPOCH_S):
            number = float(value)
            return datetime.fromtimestamp(number / 1000 if fmt == EPOCH_MS else number, UTC)
        if "%b" in fmt or "%B" in fmt:
            value = _MONTH_WORD.sub(lambda m: str(_MONTHS.index(m.group(1).lower()) + 1), value)
            fmt = fmt.replace("%b", "%m").replace("%B", "%m")
        return datetime.strptime(value, fmt)
    except (ValueError, OverflowError, OSError):
        return None


def format_date(value: datetime, fmt: str, zone: tzinfo) -> str:
    """`value` as the site writes it (for URL parameters such as `{created_after}`), in `zone`."""
    local = value.astimezone(zone)
    if fmt == ISO:
        return local.isoformat()
    if fmt == EPOCH_MS:
        return str(int(value.timestamp() * 1000))
    if fmt == EPOCH_S:
        return str(int(value.timestamp()))
    if "%b" in fmt or "%B" in fmt:
        month = _MONTHS[local.month - 1]
        fmt = fmt.replace("%b", month.capitalize()).replace("%B", month.capitalize())
    return local.strftime(fmt)


@dataclass(frozen=True, slots=True)
class ValueRule:
    """Extraction and word map of one field; both optional."""

    pattern: re.Pattern[str] | None = None
    words: Mapping[str, str] = field(default_factory=dict)
    default: str | None = None  # what a word missing from `words` means; None: unreadable

    def apply(self, text: str) -> str:
        value = clean(text)
        if self.pattern is not None and value:
            match = self.pattern.search(value)
            if match is None:
                raise Unreadable(f"{value!r} does not match the pattern {self.pattern.pattern!r}")
            if "value" in self.pattern.groupindex:
                value = match.group("value") or ""
            else:
                value = match.group(1) if self.pattern.groups else match.group(0)
            value = clean(value)
        if self.words:
            if value in self.words:
                return self.words[value]
            if self.default is not None:
                return self.default
            known = ", ".join(repr(w) for w in self.words)
            raise Unreadable(f"{value!r} is none of the mapped words ({known})")
        return value

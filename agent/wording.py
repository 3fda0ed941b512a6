"""How the agent words things for a seller: counts with the right plural, reasons, and the provenance the
audit log keeps (docs/safety.md rule 5), as readable text instead of raw data."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any


def plural(count: int, word: str, many: str | None = None) -> str:
    """`1 reporter`, `2 reporters`; `many` for the other words: plural(n, "entry", "entries")."""
    return f"{count} {word if count == 1 else many or word + 's'}"


def reasons_text(reasons: Mapping[str, Any] | None) -> str:
    """{"fraud": 2, "chargeback": 1} as `chargeback ×1, fraud ×2`."""
    return ", ".join(f"{reason} ×{count}" for reason, count in sorted((reasons or {}).items()))


def _day(value: object) -> str:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).astimezone().strftime("%Y-%m-%d")
        except ValueError:
            return value
    return str(value)


# The audit details' keys, in the order a seller reads them.
_ORDER = (
    "reason", "reports", "created", "updated", "unchanged", "withdrawn",
    "reporters", "score", "reasons", "last_reported_at", "outcome", "settled", "was",
)  # fmt: skip


def details_text(details: Mapping[str, Any], *, member_id: str | None = None) -> str:
    """An audit record's details (provenance, outcome, reason...) as one readable line."""
    return "; ".join(_parts(details, member_id))


def _parts(details: Mapping[str, Any], member_id: str | None) -> list[str]:
    parts: list[str] = []
    keys = sorted(details, key=lambda k: (_ORDER.index(k) if k in _ORDER else len(_ORDER), k))
    for key in keys:
        value = details[key]
        words = key.replace("_", " ")
        if value is None or value == {} or value == []:
            continue
        if key == "hub_entry":
            if value != member_id:
                parts.append(f"shared entry {value}")
        elif key in ("reason", "settled"):
            parts.append(str(value))
        elif key == "reporters" and isinstance(value, int):
            parts.append(plural(value, "reporter"))
        elif key == "reasons" and isinstance(value, Mapping):
            parts.append(f"reasons {reasons_text(value)}")
        elif key == "last_reported_at":
            parts.append(f"last reported {_day(value)}")
        elif key == "outcome":
            parts.append(f"the store answered {str(value).replace('_', ' ')}")
        elif key == "allowlisted":
            parts.append("now on the allowlist" if value else "not allowlisted")
        elif key == "was" and isinstance(value, Mapping):
            parts.append("had been added for " + ", ".join(_parts(value, member_id)))
        elif isinstance(value, Mapping):
            parts.append(f"{words} " + ", ".join(f"{k} {v}" for k, v in value.items()))
        elif isinstance(value, bool):
            parts.append(words if value else f"not {words}")
        else:
            parts.append(f"{words} {value}")
    return parts

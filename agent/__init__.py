"""The blacklist-sharing agent: drives a seller backend, shares its blacklist through a hub."""

from __future__ import annotations

__version__ = "0.1.0"

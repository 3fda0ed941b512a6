"""What to do next, for the failures a seller meets in their first hour: one line under the error.

An error says what went wrong; the hint says which command or setting fixes it. Hints that name a command
name it in full (`with_config` adds the `--config` the user passed when they are printed).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from agent.errors import HubRejected
from agent.secrets import SecretName

_TOKEN_REFUSED = "HTTP 401"  # noqa: S105 (a status, not a token)
_SELLER_DISABLED = "HTTP 403"


def hub_token_refused() -> str:
    """The hub answered 401: it does not know the token this agent sent. Say where that token came from."""
    env_var = SecretName.HUB_TOKEN.env_var
    if os.environ.get(env_var, "").strip():
        return (
            f"the hub does not accept the token in ${env_var} (it wins over the keyring): "
            f"correct it, or unset it to use the token stored with "
            "`blacklist-agent secrets set hub-token --stdin`"
        )
    return (
        "the hub does not accept the token stored for this store (revoked, mistyped, or issued by another "
        "hub): store the one the hub's operator gave you with `blacklist-agent secrets set hub-token --stdin`"
    )


def seller_disabled() -> str:
    return "the hub's operator has disabled this store: ask them why (a new token will not help)"


def for_error(exc: BaseException) -> str | None:
    """The hint for an error that ended a command, or None."""
    if isinstance(exc, HubRejected):
        if exc.status_code == 401:
            return hub_token_refused()
        if exc.status_code == 403:
            return seller_disabled()
    return None


def for_problems(problems: Iterable[str]) -> list[str]:
    """Hints for the error lines of a sync or share-all report (a cycle records hub errors as text and
    goes on), each hint once."""
    hints: list[str] = []
    for problem in problems:
        if _TOKEN_REFUSED in problem:
            hint = hub_token_refused()
        elif _SELLER_DISABLED in problem and "hub" in problem:
            hint = seller_disabled()
        else:
            continue
        if hint not in hints:
            hints.append(hint)
    return hints

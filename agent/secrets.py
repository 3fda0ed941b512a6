"""The agent's secrets (backend password, hub token) in the OS keyring, with an env fallback for servers.

Keyring entries are keyed so that several agents on one machine never clash:

    backend password   service "blacklist-agent/backend/<backend.base_url>"
                       username "<backend.username>"
    hub token          service "blacklist-agent/hub/<hub.url>"
                       username "<backend.username>@<backend.base_url>"

(the hub token belongs to one store, so it is keyed by the store as well as the hub). The environment
variables BLACKLIST_AGENT_BACKEND_PASSWORD / BLACKLIST_AGENT_HUB_TOKEN, when set, win over the keyring:
the documented, less safe choice for servers without a keyring. No function here ever puts a secret
into a log line or an exception message; every secret read or stored is registered with the log filter.

A keyring that cannot keep a secret is refused with KeyringUnavailable (and its fixes), never trusted: the
fail and null backends, a backend that cannot load, and any backend that does not give back what it was
given (`store_secret` reads every secret back). keyrings.alt's EncryptedKeyring works but asks for its own
password on the terminal, which the background agent (`run`, the service) cannot type; the messages say so.
A missing secret may only mean that `backend.base_url` changed (a port typo: secrets are keyed by that
address), so before saying "not stored" the backend is asked whether it answers at all.
"""

from __future__ import annotations

import enum
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import httpx
import keyring
import keyring.backend
import keyring.backends.fail
import keyring.backends.null
import keyring.errors

from agent.config import Settings
from agent.errors import BackendUnavailable, ConfigError, KeyringUnavailable, SecretMissing
from agent.log import register_secret
from agent.paths import APP_NAME

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
# Seconds to wait for the backend's answer when a secret is missing (is the address itself wrong?).
_REACH_TIMEOUT = 5.0


class SecretName(enum.StrEnum):
    """The secrets the agent keeps, by the name the CLI uses."""

    BACKEND_PASSWORD = "backend-password"  # noqa: S105 (a name, not a password)
    HUB_TOKEN = "hub-token"  # noqa: S105

    @property
    def env_var(self) -> str:
        return "BLACKLIST_AGENT_" + self.name

    @property
    def label(self) -> str:
        return "backend password" if self is SecretName.BACKEND_PASSWORD else "hub token"


@dataclass(frozen=True, slots=True)
class KeyringEntry:
    """Where one secret lives in the keyring."""

    service: str
    username: str


def keyring_entry(settings: Settings, name: SecretName) -> KeyringEntry:
    """The keyring service and username for `name` of the agent configured by `settings`."""
    backend = settings.backend
    if name is SecretName.BACKEND_PASSWORD:
        return KeyringEntry(f"{APP_NAME}/backend/{backend.base_url}", backend.username)
    if settings.hub.url is None:
        raise ConfigError(
            "hub.url is not set, so there is no hub token to keep; add `url` under [hub] in the config",
            key="hub.url",
        )
    return KeyringEntry(f"{APP_NAME}/hub/{settings.hub.url}", f"{backend.username}@{backend.base_url}")


def backend_password(settings: Settings) -> str:
    """The seller backend password: $BLACKLIST_AGENT_BACKEND_PASSWORD, else the keyring."""
    return get_secret(settings, SecretName.BACKEND_PASSWORD)


def hub_token(settings: Settings) -> str:
    """This store's hub token: $BLACKLIST_AGENT_HUB_TOKEN, else the keyring."""
    return get_secret(settings, SecretName.HUB_TOKEN)


def get_secret(settings: Settings, name: SecretName) -> str:
    """The secret's value; raises SecretMissing (with the command that stores it) or KeyringUnavailable."""
    from_env = env_secret(name)
    if from_env is not None:
        logger.debug("using the %s from $%s", name.label, name.env_var)
        return from_env
    entry = keyring_entry(settings, name)
    backend = usable_keyring(name)
    value = _call(name, backend, lambda: backend.get_password(entry.service, entry.username))
    if not value:
        _check_backend_reachable(settings, name)
        raise SecretMissing(_missing_message(settings, name), secret=name.value)
    register_secret(value)
    return value


def store_secret(settings: Settings, name: SecretName, value: str) -> None:
    """Save the secret in the keyring (never in a file the agent writes)."""
    if not value:
        raise SecretMissing(f"refusing to store an empty {name.label}", secret=name.value)
    register_secret(value)
    entry = keyring_entry(settings, name)
    backend = usable_keyring(name)
    _call(name, backend, lambda: backend.set_password(entry.service, entry.username, value))
    # Some backends accept a secret and keep nothing (the null keyring, a locked or read-only store):
    # saying "stored" then would leave the background agent without it, to fail hours later.
    if _call(name, backend, lambda: backend.get_password(entry.service, entry.username)) != value:
        raise _unavailable(name, backend, None, problem="it accepted the secret but did not keep it")
    logger.info("stored the %s in the keyring (%s)", name.label, describe_keyring(backend))


def delete_secret(settings: Settings, name: SecretName) -> bool:
    """Remove the secret from the keyring; False when it was not stored."""
    entry = keyring_entry(settings, name)
    backend = usable_keyring(name)
    if _call(name, backend, lambda: backend.get_password(entry.service, entry.username)) is None:
        return False
    try:
        _call(name, backend, lambda: backend.delete_password(entry.service, entry.username))
    except KeyringUnavailable as exc:
        if isinstance(exc.__cause__, keyring.errors.PasswordDeleteError):
            return False
        raise
    logger.info("deleted the %s from the keyring", name.label)
    return True


def env_secret(name: SecretName) -> str | None:
    """The env fallback's value, when set and not blank."""
    value = os.environ.get(name.env_var, "")
    if not value.strip():
        return None
    register_secret(value)
    return value


# Backends that keep nothing: the fail backend raises on use, the null backend silently drops every secret.
_KEEP_NOTHING = (keyring.backends.fail.Keyring, keyring.backends.null.Keyring)


def usable_keyring(name: SecretName | None = None) -> keyring.backend.KeyringBackend:
    """The keyring backend in use, or KeyringUnavailable when there is none that can keep a secret."""
    try:
        backend = keyring.get_keyring()
    except Exception as exc:  # PYTHON_KEYRING_BACKEND names a backend that cannot load (missing module...)
        raise _unavailable(name, None, exc) from exc
    if isinstance(backend, _KEEP_NOTHING):
        raise _unavailable(name, backend, None)
    return backend


def asks_for_a_password(backend: keyring.backend.KeyringBackend) -> bool:
    """True for keyrings.alt's EncryptedKeyring: it asks for its own password on the terminal, once per
    process, which a background agent cannot type."""
    return any(cls.__name__ == "EncryptedKeyring" for cls in type(backend).__mro__)


def check_keyring() -> str:
    """Prove the keyring answers (a read of an entry that does not exist); returns its description."""
    backend = usable_keyring()
    if asks_for_a_password(backend):
        # Reading would ask for the keyring's password in the middle of doctor's checks.
        return describe_keyring(backend)
    _call(None, backend, lambda: backend.get_password(f"{APP_NAME}/doctor", "probe"))
    return describe_keyring(backend)


def describe_keyring(backend: keyring.backend.KeyringBackend) -> str:
    kind = f"{type(backend).__module__}.{type(backend).__name__}"
    if asks_for_a_password(backend):
        return f"{kind} (asks for its password on the terminal: the background agent cannot type it)"
    if backend.priority < 1:
        # keyrings.alt's file backends: usable, but not what keyring itself recommends.
        return f"{kind} (not a recommended backend: secrets are only as safe as the file)"
    return kind


def _call(name: SecretName | None, backend: keyring.backend.KeyringBackend, action: Callable[[], _T]) -> _T:
    """One keyring operation, its failures turned into KeyringUnavailable (with the fixes)."""
    try:
        return action()
    except keyring.errors.KeyringError as exc:
        raise _unavailable(name, backend, exc) from exc
    except (EOFError, ValueError, AssertionError, OSError) as exc:
        if not asks_for_a_password(backend):
            raise
        # getpass found no terminal (EOFError), or the keyring's password was wrong (ValueError).
        problem = (
            "it asks for its own password and there is no terminal to type it"
            if isinstance(exc, EOFError | OSError)
            else "its password was not the right one"
        )
        raise _unavailable(name, backend, exc, problem=problem) from exc


_TYPED_KEYRING_NOTE = (
    "this keyring asks for its password once per command, which the background agent (`blacklist-agent "
    "run`, the service) can never type: keep it for the commands you type, and give the background agent "
    "a Secret Service or the environment variables below"
)


def _unavailable(
    name: SecretName | None,
    backend: keyring.backend.KeyringBackend | None,
    exc: BaseException | None,
    *,
    problem: str | None = None,
) -> KeyringUnavailable:
    what = f"keep the {name.label}" if name else "keep secrets"
    kind = type(backend).__name__ if backend is not None else "PYTHON_KEYRING_BACKEND"
    if problem is None:
        problem = f"{type(exc).__name__}: {exc}" if exc else "no keyring backend is available"
        if backend is not None and isinstance(backend, keyring.backends.null.Keyring):
            problem = "the null keyring keeps nothing"
    env_vars = (
        f"${name.env_var}"
        if name
        else f"${SecretName.BACKEND_PASSWORD.env_var} / ${SecretName.HUB_TOKEN.env_var}"
    )
    typed = f" ({_TYPED_KEYRING_NOTE})" if backend is not None and asks_for_a_password(backend) else ""
    return KeyringUnavailable(
        f"No usable OS keyring to {what} ({kind}: {problem}){typed}. Fix it by one of: "
        "(1) install and unlock a Secret Service such as gnome-keyring or KWallet (on Windows and macOS "
        "the system keyring works out of the box); "
        "(2) install keyrings.alt and select its encrypted file keyring with "
        "PYTHON_KEYRING_BACKEND=keyrings.alt.file.EncryptedKeyring: it asks for its own password on the "
        "terminal, which the background agent cannot type; "
        f"(3) less safe, for servers and the background agent: set {env_vars} in the agent's environment."
    )


def _check_backend_reachable(settings: Settings, name: SecretName) -> None:
    """Raise BackendUnavailable when the backend does not answer at all: secrets are keyed by its address,
    so "not stored" after a typo in `backend.base_url` would send the seller to store it again."""
    url = settings.backend.base_url
    try:
        httpx.get(url, timeout=min(_REACH_TIMEOUT, settings.backend.timeout_seconds), follow_redirects=False)
    except httpx.HTTPError as exc:
        raise BackendUnavailable(
            f"cannot reach the backend at {url} ({type(exc).__name__}: {exc}): check `base_url` under "
            f"[backend] in the config, and the network. (No {name.label} is stored for this address "
            "either: secrets are kept per backend address, so they are found again once it is right.)"
        ) from None


def _missing_message(settings: Settings, name: SecretName) -> str:
    backend = settings.backend
    if name is SecretName.BACKEND_PASSWORD:
        return (
            f"no backend password stored for {backend.username} at {backend.base_url}; "
            f"run `blacklist-agent login` (or set ${name.env_var})"
        )
    return (
        f"no hub token stored for {backend.username}@{backend.base_url} at {settings.hub.url}; "
        f"run `blacklist-agent secrets set hub-token --stdin` (or set ${name.env_var})"
    )

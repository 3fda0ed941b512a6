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
"""

from __future__ import annotations

import enum
import logging
import os
from dataclasses import dataclass

import keyring
import keyring.backend
import keyring.backends.fail
import keyring.errors

from agent.config import Settings
from agent.errors import ConfigError, KeyringUnavailable, SecretMissing
from agent.log import register_secret
from agent.paths import APP_NAME

logger = logging.getLogger(__name__)


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
    try:
        value = backend.get_password(entry.service, entry.username)
    except keyring.errors.KeyringError as exc:
        raise _unavailable(name, backend, exc) from None
    if not value:
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
    try:
        backend.set_password(entry.service, entry.username, value)
    except keyring.errors.KeyringError as exc:
        raise _unavailable(name, backend, exc) from None
    logger.info("stored the %s in the keyring (%s)", name.label, describe_keyring(backend))


def delete_secret(settings: Settings, name: SecretName) -> bool:
    """Remove the secret from the keyring; False when it was not stored."""
    entry = keyring_entry(settings, name)
    backend = usable_keyring(name)
    try:
        if backend.get_password(entry.service, entry.username) is None:
            return False
        backend.delete_password(entry.service, entry.username)
    except keyring.errors.PasswordDeleteError:
        return False
    except keyring.errors.KeyringError as exc:
        raise _unavailable(name, backend, exc) from None
    logger.info("deleted the %s from the keyring", name.label)
    return True


def env_secret(name: SecretName) -> str | None:
    """The env fallback's value, when set and not blank."""
    value = os.environ.get(name.env_var, "")
    if not value.strip():
        return None
    register_secret(value)
    return value


def usable_keyring(name: SecretName | None = None) -> keyring.backend.KeyringBackend:
    """The keyring backend in use, or KeyringUnavailable when there is none."""
    backend = keyring.get_keyring()
    if isinstance(backend, keyring.backends.fail.Keyring):
        raise _unavailable(name, backend, None)
    return backend


def check_keyring() -> str:
    """Prove the keyring answers (a read of an entry that does not exist); returns its description."""
    backend = usable_keyring()
    try:
        backend.get_password(f"{APP_NAME}/doctor", "probe")
    except keyring.errors.KeyringError as exc:
        raise _unavailable(None, backend, exc) from None
    return describe_keyring(backend)


def describe_keyring(backend: keyring.backend.KeyringBackend) -> str:
    kind = f"{type(backend).__module__}.{type(backend).__name__}"
    if backend.priority < 1:
        # keyrings.alt's file backends: usable, but not what keyring itself recommends.
        return f"{kind} (not a recommended backend: secrets are only as safe as the file)"
    return kind


def _unavailable(
    name: SecretName | None, backend: keyring.backend.KeyringBackend, exc: Exception | None
) -> KeyringUnavailable:
    what = f"keep the {name.label}" if name else "keep secrets"
    problem = f"{type(exc).__name__}: {exc}" if exc else "no keyring backend is available"
    env_vars = (
        f"${name.env_var}"
        if name
        else f"${SecretName.BACKEND_PASSWORD.env_var} / ${SecretName.HUB_TOKEN.env_var}"
    )
    return KeyringUnavailable(
        f"No usable OS keyring to {what} ({type(backend).__name__}: {problem}). Fix it by one of: "
        "(1) install and unlock a Secret Service such as gnome-keyring or KWallet (on Windows and macOS "
        "the system keyring works out of the box); "
        "(2) install keyrings.alt and select a file keyring with "
        "PYTHON_KEYRING_BACKEND=keyrings.alt.file.EncryptedKeyring (or PlaintextKeyring); "
        f"(3) less safe, for servers: set {env_vars} in the agent's environment."
    )


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

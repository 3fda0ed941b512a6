"""Setting an agent up, for every front: the config file, the backend login, the hub token.

The CLI (`init`, `login`, `secrets set hub-token`) and the dashboard's setup page call the same functions,
so both write the same file and the same keyring entries, and a seller's login through the page is the same
human login as `blacklist-agent login`:

- `write_config` writes a new commented config file from config.example.toml (what `init` writes);
  `update_config` changes keys of an existing file in place, keeping its comments and every other key.
  Both validate the result before replacing anything, so a bad value never leaves a broken file behind.
- `human_login` logs in with the password a human just typed (a one-time code through `otp_prompt`),
  keeping the saved session aside until the login proves the password, then stores the password.
- `store_hub_token` keeps the hub token in the keyring.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import tomlkit
import tomlkit.exceptions
from tomlkit.items import Table

from agent.config import Settings, load_settings
from agent.errors import ConfigError, KeyringUnavailable
from agent.secrets import SecretName, describe_keyring, env_secret, store_secret, usable_keyring

logger = logging.getLogger(__name__)

ConfigValues = Mapping[str, Mapping[str, object]]
"""`{section: {key: value}}`; section "" is the top level (`data_dir`)."""


@dataclass(frozen=True, slots=True)
class SetupValues:
    """What a seller gives to set an agent up (the questions of `init` and of the setup page)."""

    base_url: str
    username: str
    selectors: str | None = None
    hub_url: str | None = None
    data_dir: Path | None = None

    def sections(self) -> dict[str, dict[str, object]]:
        values: dict[str, dict[str, object]] = {
            "backend": {"base_url": self.base_url.strip(), "username": self.username.strip()}
        }
        if self.selectors and self.selectors.strip():
            values["backend"]["selectors"] = selectors_value(self.selectors.strip())
        if self.hub_url and self.hub_url.strip():
            values["hub"] = {"url": self.hub_url.strip()}
        if self.data_dir is not None:
            values[""] = {"data_dir": str(self.data_dir.expanduser().absolute())}
        return values


def selectors_value(selectors: str) -> str:
    """A shipped stem as given; a path made absolute, so it keeps working whatever directory the agent
    later starts in."""
    looks_like_path = selectors.endswith(".toml") or "/" in selectors or "\\" in selectors
    return str(Path(selectors).expanduser().absolute()) if looks_like_path else selectors


# -- the config file --------------------------------------------------------------------------------


def write_config(path: Path, values: SetupValues, *, force: bool = False) -> Settings:
    """Write a new commented config file (every key explained, the seller's values filled in).

    Refuses to replace an existing file unless `force`; raises ConfigError naming the bad key (and leaves
    any existing file as it was) when a value does not validate.
    """
    # Imported here: agent.cli imports this module (for `init` and `login`), and the template is its file.
    from agent.cli.config_template import example_path, fill_template

    if path.exists() and not force:
        raise ConfigError(f"{path} already exists; use --force to overwrite it")
    text = fill_template(example_path().read_text(encoding="utf-8"), values.sections())
    return _replace_validated(path, text)


def update_config(path: Path, changes: ConfigValues, *, remove: ConfigValues | None = None) -> Settings:
    """Set keys of an existing config file in place (comments and other keys kept), then validate.

    `remove` lists keys to delete (back to their default), e.g. `{"policy": {"min_score": None}}`.
    """
    try:
        document = tomlkit.parse(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror or exc}") from None
    except tomlkit.exceptions.ParseError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    for section, keys in changes.items():
        table = _table(document, section)
        for key, value in keys.items():
            table[key] = _toml_item(value)
    for section, keys in (remove or {}).items():
        table = _table(document, section)
        for key in keys:
            if key in table:
                del table[key]
    return _replace_validated(path, tomlkit.dumps(document))


def _table(document: tomlkit.TOMLDocument, section: str) -> tomlkit.TOMLDocument | Table:
    if not section:
        return document
    if section not in document:
        document.add(section, tomlkit.table())
    table = document[section]
    if not isinstance(table, Table):
        raise ConfigError(f"[{section}] in the config file is not a table", key=section)
    return table


def _toml_item(value: object) -> object:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple | set | frozenset):
        return list(value)
    return value


def _replace_validated(path: Path, text: str) -> Settings:
    """Write `text` next to `path`, load it as the agent would, and only then put it in place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(path.name + ".new")
    draft.write_text(text, encoding="utf-8")
    try:
        settings = load_settings(draft)
    except ConfigError as exc:
        draft.unlink()
        raise ConfigError(str(exc).replace(str(draft), str(path)), key=exc.key) from None
    draft.replace(path)
    logger.info("wrote config file %s", path)
    return settings


# -- the backend login ------------------------------------------------------------------------------


def password_keyring_problem() -> KeyringUnavailable | None:
    """Check, before a (slow) login, that the password can be kept.

    Raises KeyringUnavailable when it can be kept nowhere; returns the problem when only the environment
    fallback ($BLACKLIST_AGENT_BACKEND_PASSWORD) will supply it; None when the keyring works.
    """
    try:
        usable_keyring(SecretName.BACKEND_PASSWORD)
    except KeyringUnavailable as exc:
        if env_secret(SecretName.BACKEND_PASSWORD) is None:
            raise
        return exc
    return None


@dataclass(frozen=True, slots=True)
class LoginOutcome:
    """What a human login did with the password."""

    stored: bool  # the password is now in the keyring
    keyring: str | None  # which keyring kept it
    env_wins: bool  # $BLACKLIST_AGENT_BACKEND_PASSWORD is set and takes precedence over the keyring


def human_login(
    settings: Settings,
    password: str,
    *,
    otp_prompt: Callable[[], str] | None = None,
    headless: bool | None = None,
) -> LoginOutcome:
    """Log in with a password a human just gave, then keep it in the keyring.

    A saved session would let the login succeed without ever trying the password, so it is set aside
    while the password is tried, and put back if the password turns out wrong. A one-time code asked by
    the backend comes from `otp_prompt` (without one, such a login raises LoginNeedsHuman).
    """
    from agent.backend.driver import open_backend  # Playwright is imported only when a login happens

    keyring_problem = password_keyring_problem()
    session = settings.session_path
    set_aside = session.with_name(session.name + ".before-login")
    if session.exists():
        session.replace(set_aside)
    try:
        with open_backend(
            settings, password=password, otp_prompt=otp_prompt, headless=headless, human=True
        ) as store:
            store.ensure_session()
    except BaseException:
        if set_aside.exists() and not session.exists():
            set_aside.replace(session)
        raise
    set_aside.unlink(missing_ok=True)
    env_wins = env_secret(SecretName.BACKEND_PASSWORD) is not None
    if keyring_problem is not None:
        logger.warning("logged in, but the password was not stored: no usable keyring")
        return LoginOutcome(stored=False, keyring=None, env_wins=env_wins)
    store_secret(settings, SecretName.BACKEND_PASSWORD, password)
    return LoginOutcome(stored=True, keyring=describe_keyring(usable_keyring()), env_wins=env_wins)


# -- the hub token ----------------------------------------------------------------------------------


def store_hub_token(settings: Settings, token: str) -> bool:
    """Keep this store's hub token in the keyring; True when $BLACKLIST_AGENT_HUB_TOKEN overrides it."""
    if settings.hub.url is None:
        raise ConfigError("hub.url is not set; set the hub's address first (the token is kept per hub)")
    store_secret(settings, SecretName.HUB_TOKEN, token.strip())
    return bool(os.environ.get(SecretName.HUB_TOKEN.env_var))

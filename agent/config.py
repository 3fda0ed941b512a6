"""The agent's settings: a TOML file plus `BLACKLIST_AGENT_*` environment overrides.

Precedence, highest first: keyword arguments, environment (`BLACKLIST_AGENT_BACKEND__BASE_URL`, `__` for
nesting), the TOML file, the defaults below. `load_settings` turns every validation problem into a
`ConfigError` naming the key (`backend.base_url: ...`) and where the value came from. Secrets never live
here: they are in the OS keyring (see agent.secrets).
"""

from __future__ import annotations

import logging
import os
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from agent.errors import ConfigError
from agent.hub_models import REASONS
from agent.paths import config_path_is_explicit, default_data_dir, resolve_config_path

logger = logging.getLogger(__name__)

ENV_PREFIX = "BLACKLIST_AGENT_"
ENV_NESTED_DELIMITER = "__"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# The TOML file `Settings()` reads. A context variable rather than a class attribute so that loading one
# agent's config never leaks into another load in the same process (tests run several agents).
_toml_file: ContextVar[Path | None] = ContextVar("blacklist_agent_toml_file", default=None)


def _check_http_url(value: str) -> str:
    value = value.strip()
    if not value.startswith(("http://", "https://")) or len(value) <= len("https://"):
        raise ValueError("must be an http:// or https:// URL")
    # One canonical form: the keyring keys secrets by URL, so "x/" and "x" must be the same backend.
    return value.rstrip("/")


def _none_if_blank(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class BackendSettings(_Section):
    """`[backend]`: the seller backend this agent drives."""

    base_url: str
    username: str = Field(min_length=1)
    selectors: str = Field(default="mock-v1", min_length=1)
    selectors_override: Path | None = None
    timeout_seconds: float = Field(default=30, gt=0)
    max_retries: int = Field(default=4, ge=0, le=20)
    pacing_ms: int = Field(default=0, ge=0)
    request_budget: int = Field(default=2000, ge=1)
    login_min_interval_seconds: float = Field(default=5, ge=0)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return _check_http_url(value)

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        return value

    @field_validator("selectors_override", mode="before")
    @classmethod
    def _blank_override(cls, value: Any) -> Any:
        return _none_if_blank(value)

    @field_validator("selectors_override")
    @classmethod
    def _expand_override(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None


class BrowserSettings(_Section):
    """`[browser]`: which Chromium to drive and how hard."""

    executable: Path | None = None
    channel: str | None = None
    headless: bool = True
    concurrency: int = Field(default=4, ge=1, le=16)
    block_resources: bool = True
    artifacts_keep: int = Field(default=50, ge=1, le=10_000)

    @field_validator("executable", "channel", mode="before")
    @classmethod
    def _blank(cls, value: Any) -> Any:
        return _none_if_blank(value)

    @field_validator("executable")
    @classmethod
    def _expand_executable(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None


class HubSettings(_Section):
    """`[hub]`: the sharing hub; no URL means the agent works alone."""

    url: str | None = None
    timeout_seconds: float = Field(default=20, gt=0)

    @field_validator("url", mode="before")
    @classmethod
    def _blank_url(cls, value: Any) -> Any:
        return _none_if_blank(value)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _check_http_url(value) if value is not None else None


class PolicySettings(_Section):
    """`[policy]`: when a shared entry is trusted enough to blacklist automatically."""

    min_reporters: int = Field(default=2, ge=1)
    min_score: int | None = None
    reasons: list[str] = Field(default_factory=list)
    protect_min_orders: int = Field(default=3, ge=0)
    max_new_per_sync: int = Field(default=200, ge=0)


class SharingSettings(_Section):
    """`[sharing]`: what this seller's reports say."""

    default_reason: str = "unspecified"

    @field_validator("default_reason")
    @classmethod
    def _known_reason(cls, value: str) -> str:
        value = value.strip()
        if value not in REASONS:
            raise ValueError(f"unknown reason {value!r}; use one of {', '.join(REASONS)}")
        return value


class ScheduleSettings(_Section):
    """`[schedule]`: how often the background agent syncs, checks and listens."""

    interval_minutes: int = Field(default=15, ge=1)
    jitter_seconds: int = Field(default=120, ge=0)
    max_cycle_minutes: int = Field(default=30, ge=1)
    misfire_grace_seconds: int = Field(default=600, ge=0)
    # Live protection (see agent.sync.live): a cheap look at the newest blacklist entries this often
    # (0: only the full cycle), and one long-poll wait on the hub's feed between cycles.
    head_check_minutes: float = Field(default=3, ge=0)
    listen: bool = True
    listen_wait_seconds: int = Field(default=55, ge=1, le=60)


class LoggingSettings(_Section):
    """`[logging]`: the level of the agent's log file."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value


class Settings(BaseSettings):
    """Everything one agent needs to know, except its secrets."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        extra="forbid",
        validate_default=True,
    )

    data_dir: Path = Field(default_factory=default_data_dir)
    backend: BackendSettings
    browser: BrowserSettings = Field(default_factory=BrowserSettings)
    hub: HubSettings = Field(default_factory=HubSettings)
    policy: PolicySettings = Field(default_factory=PolicySettings)
    sharing: SharingSettings = Field(default_factory=SharingSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)

    @field_validator("data_dir")
    @classmethod
    def _expand_data_dir(cls, value: Path) -> Path:
        return value.expanduser()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # No dotenv and no secrets dir: secrets belong in the keyring, not in files next to the config.
        toml_file = _toml_file.get()
        if toml_file is None:
            return (init_settings, env_settings)
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=toml_file))

    @property
    def state_db_path(self) -> Path:
        """The agent's local SQLite state (sync watermarks, provenance, allowlist)."""
        return self.data_dir / "state.sqlite3"

    @property
    def session_path(self) -> Path:
        """The backend session (Playwright storage state), saved owner-only."""
        return self.data_dir / "session" / "storage_state.json"

    @property
    def artifacts_dir(self) -> Path:
        """Screenshots and HTML saved when a page does not look as expected."""
        return self.data_dir / "artifacts"

    @property
    def log_dir(self) -> Path:
        """This agent's rotating log files (per data_dir, so side-by-side agents never share a log)."""
        return self.data_dir / "logs"


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Load the settings from `path` (resolved like `--config`) and the environment.

    A config file named explicitly (`--config` or `$BLACKLIST_AGENT_CONFIG`) must exist; the default one may
    be absent when the environment supplies every required key (servers, containers).
    """
    config_path = resolve_config_path(path)
    explicit = config_path_is_explicit(path)
    if config_path.is_dir():
        raise ConfigError(f"config path {config_path} is a directory, not a TOML file")
    exists = config_path.is_file()
    if explicit and not exists:
        raise ConfigError(
            f"config file {config_path} does not exist; create it with `blacklist-agent init`"
            f" (or `blacklist-agent --config {config_path} init`)"
        )
    if exists:
        _check_toml_syntax(config_path)
    token = _toml_file.set(config_path if exists else None)
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise _config_error(exc, config_path if exists else None) from None
    finally:
        _toml_file.reset(token)
    logger.debug("loaded settings from %s", config_path if exists else "the environment only")
    return settings


def _check_toml_syntax(path: Path) -> None:
    # Parse once ourselves so a syntax error names the file and line instead of surfacing as a bare
    # TOMLDecodeError from inside pydantic-settings.
    try:
        with path.open("rb") as f:
            tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror or exc}") from None


def _config_error(exc: ValidationError, path: Path | None) -> ConfigError:
    """One readable message per problem, naming the key and its source; never the offending value."""
    problems: list[str] = []
    first_key: str | None = None
    for error in exc.errors(include_url=False, include_input=False):
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        first_key = first_key or key
        message = _describe(error["type"], error["msg"], key)
        problems.append(f"{key}: {message}{_source_of(key, path)}")
    text = "invalid configuration: " + "; ".join(problems)
    if path is None:
        text += " (no config file was found; run `blacklist-agent init` to create one)"
    return ConfigError(text, key=first_key)


def _describe(error_type: str, message: str, key: str) -> str:
    if error_type == "missing":
        if "." not in key:
            return f"missing (add a [{key}] section)"
        return "missing (required)"
    if error_type == "extra_forbidden":
        return "unknown key (check its spelling against config.example.toml)"
    # pydantic prefixes messages of our own validators with "Value error, ".
    return message.removeprefix("Value error, ")


def _source_of(key: str, path: Path | None) -> str:
    env_name = ENV_PREFIX + key.replace(".", ENV_NESTED_DELIMITER).upper()
    if any(name.upper() == env_name for name in os.environ):
        return f" (from environment variable {env_name})"
    if path is not None:
        return f" (in {path})"
    return ""

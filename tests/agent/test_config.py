"""The agent's config: TOML file, env overrides, errors that name the key, and the shipped example."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from agent.config import Settings, load_settings
from agent.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"

MINIMAL = """
[backend]
base_url = "http://127.0.0.1:8000/"
username = "store1"
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.upper().startswith("BLACKLIST_AGENT_"):
            monkeypatch.delenv(name)
    # The default config and data dirs must never be the developer's real ones.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_file_loads_with_documented_defaults(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, MINIMAL))
    assert settings.backend.base_url == "http://127.0.0.1:8000"  # trailing slash dropped
    assert settings.backend.selectors == "mock-v1"
    assert settings.browser.concurrency == 4
    assert settings.browser.headless is True
    assert settings.hub.url is None
    assert settings.policy.min_reporters == 2
    assert settings.schedule.interval_minutes == 15
    assert settings.data_dir == tmp_path / "xdg-data" / "blacklist-agent"
    assert settings.state_db_path == settings.data_dir / "state.sqlite3"
    assert settings.session_path == settings.data_dir / "session" / "storage_state.json"


def test_environment_overrides_file_including_nested_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, MINIMAL + "[browser]\nconcurrency = 2\n")
    monkeypatch.setenv("BLACKLIST_AGENT_BROWSER__CONCURRENCY", "8")
    monkeypatch.setenv("BLACKLIST_AGENT_BACKEND__USERNAME", "store2")
    monkeypatch.setenv("BLACKLIST_AGENT_DATA_DIR", str(tmp_path / "agent2"))
    settings = load_settings(path)
    assert settings.browser.concurrency == 8
    assert settings.backend.username == "store2"
    assert settings.backend.base_url == "http://127.0.0.1:8000"  # the rest still from the file
    assert settings.data_dir == tmp_path / "agent2"


def test_bad_value_names_the_key_and_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace('"http://127.0.0.1:8000/"', '"localhost:8000"'))
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert "backend.base_url: must be an http:// or https:// URL" in str(caught.value)
    assert str(path) in str(caught.value)
    assert caught.value.key == "backend.base_url"


def test_bad_env_value_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLACKLIST_AGENT_BROWSER__CONCURRENCY", "99")
    with pytest.raises(ConfigError, match=r"browser\.concurrency: .*BLACKLIST_AGENT_BROWSER__CONCURRENCY"):
        load_settings(write(tmp_path, MINIMAL))


def test_unknown_key_is_rejected_by_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"browser\.headles: unknown key"):
        load_settings(write(tmp_path, MINIMAL + "[browser]\nheadles = false\n"))


def test_missing_required_key_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"backend\.username: missing"):
        load_settings(write(tmp_path, '[backend]\nbase_url = "https://seller.example.com"\n'))


def test_toml_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "[browser\n")
    with pytest.raises(ConfigError, match="not valid TOML") as caught:
        load_settings(path)
    assert str(path) in str(caught.value)


def test_named_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist; create it with `blacklist-agent init`"):
        load_settings(tmp_path / "nope.toml")


def test_config_path_comes_from_env_when_not_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLACKLIST_AGENT_CONFIG", str(write(tmp_path, MINIMAL)))
    assert load_settings().backend.username == "store1"


def test_default_config_file_is_read_from_user_config_dir(tmp_path: Path) -> None:
    default = tmp_path / "xdg-config" / "blacklist-agent" / "config.toml"
    default.parent.mkdir(parents=True)
    default.write_text(MINIMAL, encoding="utf-8")
    assert load_settings().backend.username == "store1"


def test_environment_alone_suffices_without_default_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLACKLIST_AGENT_BACKEND__BASE_URL", "https://seller.example.com")
    monkeypatch.setenv("BLACKLIST_AGENT_BACKEND__USERNAME", "server-store")
    assert load_settings().backend.username == "server-store"


def test_no_config_anywhere_says_to_run_init() -> None:
    with pytest.raises(ConfigError, match=r"backend: missing .*run `blacklist-agent init`"):
        load_settings()


def test_secret_env_fallbacks_are_not_mistaken_for_config_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BLACKLIST_AGENT_BACKEND_PASSWORD", "pw-from-env")
    monkeypatch.setenv("BLACKLIST_AGENT_HUB_TOKEN", "token-from-env")
    settings = load_settings(write(tmp_path, MINIMAL))
    assert "pw-from-env" not in repr(settings)


def test_example_config_loads_as_shipped() -> None:
    settings = load_settings(EXAMPLE)
    assert settings.backend.base_url == "https://seller.example.com"


def test_example_documents_every_key_with_its_true_default(tmp_path: Path) -> None:
    # Uncomment every `# key = value` line: the file must still load, and where a key has a default the
    # value shown must be that default, so the example cannot drift from Settings.
    text = EXAMPLE.read_text(encoding="utf-8")
    uncommented = re.sub(r"(?m)^# (\w+ = .+)$", r"\1", text)
    path = write(tmp_path, uncommented)
    load_settings(path)
    document = tomllib.loads(uncommented)
    for name, field in Settings.model_fields.items():
        assert name in document, f"{name} is not documented in config.example.toml"
        section_type = field.annotation
        if not (isinstance(section_type, type) and hasattr(section_type, "model_fields")):
            continue
        for key, sub in section_type.model_fields.items():
            assert key in document[name], f"{name}.{key} is not documented in config.example.toml"
            if sub.is_required() or sub.get_default(call_default_factory=True) is None:
                continue
            shown = document[name][key]
            assert shown == sub.get_default(call_default_factory=True), f"{name}.{key} shows a wrong default"

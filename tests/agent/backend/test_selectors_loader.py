"""The selectors loader: shipped stems and paths, user overrides, validation errors, URL filling."""

from __future__ import annotations

import tomllib
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from agent.backend.selectors import load_selectors, shipped_dir, shipped_stems
from agent.errors import ConfigError

SHIPPED_V1 = shipped_dir() / "mock-v1.toml"


def write(tmp_path: Path, text: str, name: str = "site.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def broken_copy(tmp_path: Path, old: str, new: str) -> Path:
    text = SHIPPED_V1.read_text(encoding="utf-8")
    assert old in text
    return write(tmp_path, text.replace(old, new, 1))


def test_shipped_files_load_by_stem() -> None:
    assert "mock-v1" in shipped_stems()
    for stem in shipped_stems():
        site = load_selectors(stem)
        assert site.pages["customers"].selectors["row"].css


def test_a_path_loads_the_same_file_as_its_stem() -> None:
    assert load_selectors(str(SHIPPED_V1)).pages == load_selectors("mock-v1").pages


def test_unknown_stem_names_the_shipped_files() -> None:
    with pytest.raises(ConfigError, match="mock-v1") as caught:
        load_selectors("no-such-site")
    assert caught.value.key == "backend.selectors"


def test_override_is_merged_key_by_key_on_top_of_the_shipped_file(tmp_path: Path) -> None:
    override = write(tmp_path, '[pages.customers.selectors]\nrow = "table#clients tr"\n', "local.toml")
    site = load_selectors("mock-v1", override)
    shipped = load_selectors("mock-v1")
    assert site.pages["customers"].selectors["row"].css == "table#clients tr"
    assert site.pages["customers"].selectors["table"] == shipped.pages["customers"].selectors["table"]
    assert site.pages["customers"].urls == shipped.pages["customers"].urls


def test_missing_override_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_selectors("mock-v1", tmp_path / "absent.toml")
    assert caught.value.key == "backend.selectors_override"


def test_missing_required_selector_names_file_and_key(tmp_path: Path) -> None:
    path = broken_copy(tmp_path, 'confirm = "form#blacklist-confirm-form button#confirm-button"\n', "")
    with pytest.raises(ConfigError) as caught:
        load_selectors(str(path))
    assert caught.value.key == "pages.blacklist_confirm.selectors.confirm"
    assert str(path) in str(caught.value)


def test_bad_strategy_and_bad_toml_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"pages\.home\.strategy: must be one of"):
        load_selectors(str(broken_copy(tmp_path, 'strategy = "http"', 'strategy = "htp"')))
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_selectors(str(write(tmp_path, "[site\nname=", "bad.toml")))


def test_blacklist_link_template_must_carry_member_id_and_name(tmp_path: Path) -> None:
    text = SHIPPED_V1.read_text(encoding="utf-8")
    link = tomllib.loads(text)["urls"]["blacklist_link"]
    path = write(tmp_path, text.replace(link, "/blacklist/add?memberId={member_id}"))
    with pytest.raises(ConfigError, match=r"pages\.blacklist_confirm\.url: must contain \{name\}"):
        load_selectors(str(path))


@pytest.mark.parametrize(
    "name",
    ["a&memberId=1", "50% off", "x+y", "#1 buyer", "a/b", "q?=1", "Zoë Ångström", "O'Brien  Jr", "张伟"],
)
def test_every_value_stays_one_query_value(name: str) -> None:
    url = load_selectors("mock-v1").page("blacklist_confirm").url("url", member_id="42", name=name)
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    assert query == {"memberId": ["42"], "name": [name]}

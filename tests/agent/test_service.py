"""Start at login: the systemd unit is written and checked for real; launchd and Task Scheduler by the
files and commands generated."""

from __future__ import annotations

import plistlib
import shlex
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from agent.service import (
    ServiceSpec,
    install_service,
    plan_service,
    service_status,
    uninstall_service,
    validate_name,
)

NO_BUS: dict[str, str] = {}  # no DBUS_SESSION_BUS_ADDRESS, no XDG_RUNTIME_DIR: like this container
TASK_NS = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}


def make_spec(tmp_path: Path, *, name: str | None = None, config: str = "config.toml") -> ServiceSpec:
    return ServiceSpec(
        python=Path(sys.executable),
        config_path=tmp_path / config,
        working_dir=tmp_path / "data",
        log_dir=tmp_path / "data" / "logs",
        name=name,
    )


def exec_start(unit: str) -> list[str]:
    line = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    return shlex.split(line.removeprefix("ExecStart=").replace("%%", "%"))


def test_linux_install_writes_a_user_unit_that_runs_this_interpreter_with_this_config(tmp_path: Path) -> None:
    spec = make_spec(tmp_path)
    plan = plan_service(spec, platform="linux", home=tmp_path / "home", env=NO_BUS)

    outcome = install_service(plan)

    unit_path = tmp_path / "home" / ".config" / "systemd" / "user" / "blacklist-agent.service"
    assert outcome.files_written == [unit_path]
    unit = unit_path.read_text()
    assert exec_start(unit) == [
        sys.executable,
        "-m",
        "agent",
        "--config",
        str(tmp_path / "config.toml"),
        "run",
    ]
    assert "Restart=on-failure" in unit
    assert "WantedBy=default.target" in unit


def test_linux_without_a_user_bus_prints_the_systemctl_commands_instead(tmp_path: Path) -> None:
    plan = plan_service(make_spec(tmp_path), platform="linux", home=tmp_path, env=NO_BUS)

    outcome = install_service(plan)

    assert outcome.commands_run == []
    assert outcome.commands_to_run == [
        ["systemctl", "--user", "daemon-reload"],
        ["systemctl", "--user", "enable", "--now", "blacklist-agent.service"],
    ]


def test_named_agents_get_their_own_units_and_xdg_config_home_is_honoured(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    plan = plan_service(make_spec(tmp_path, name="shop-2"), platform="linux", home=tmp_path, env=env)

    assert list(plan.files) == [tmp_path / "xdg" / "systemd" / "user" / "blacklist-agent-shop-2.service"]


def test_paths_with_spaces_and_percent_signs_survive_systemd_quoting(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, config="my shop/100% config.toml")
    unit = next(iter(plan_service(spec, platform="linux", home=tmp_path, env=NO_BUS).files.values()))

    assert exec_start(unit)[4] == str(tmp_path / "my shop" / "100% config.toml")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_generated_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, config="my shop/config.toml")
    plan = plan_service(spec, platform="linux", home=tmp_path, env=NO_BUS)
    install_service(plan)
    (unit_path,) = plan.files

    check = subprocess.run(["systemd-analyze", "verify", str(unit_path)], capture_output=True, text=True)

    assert check.returncode == 0, check.stderr
    assert "Unknown" not in check.stderr
    assert "not executable" not in check.stderr


def test_uninstall_removes_the_unit_and_status_says_so(tmp_path: Path) -> None:
    plan = plan_service(make_spec(tmp_path), platform="linux", home=tmp_path, env=NO_BUS)
    install_service(plan)
    assert service_status(plan) == (True, None)

    outcome = uninstall_service(plan)

    assert outcome.files_removed == list(plan.files)
    assert outcome.commands_to_run[0] == [
        "systemctl",
        "--user",
        "disable",
        "--now",
        "blacklist-agent.service",
    ]
    assert service_status(plan) == (False, None)


def test_macos_launch_agent_runs_at_login_and_restarts_after_a_failure(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, name="eu")
    plan = plan_service(spec, platform="macos", home=tmp_path)

    ((path, content),) = plan.files.items()
    plist = plistlib.loads(content.encode())
    assert path == tmp_path / "Library" / "LaunchAgents" / "com.blacklist-share.agent.eu.plist"
    assert plist["Label"] == "com.blacklist-share.agent.eu"
    assert plist["ProgramArguments"] == spec.argv
    assert plist["RunAtLoad"] is True
    assert plist["KeepAlive"] == {"SuccessfulExit": False}
    assert plan.install_commands == [["launchctl", "load", "-w", str(path)]]
    assert plan.uninstall_commands == [["launchctl", "unload", "-w", str(path)]]


def test_windows_task_starts_at_logon_without_a_time_limit(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, config=r"C:\Users\Ann Lee\blacklist-agent\config.toml")
    env = {"USERNAME": "ann", "USERDOMAIN": "SHOP-PC"}
    plan = plan_service(spec, platform="windows", home=tmp_path, env=env)

    ((xml_path, content),) = plan.files.items()
    task = ET.fromstring(content.replace('encoding="UTF-16"', ""))  # noqa: S314 (our own output)
    assert task.findtext("t:Triggers/t:LogonTrigger/t:UserId", namespaces=TASK_NS) == r"SHOP-PC\ann"
    assert task.findtext("t:Settings/t:ExecutionTimeLimit", namespaces=TASK_NS) == "PT0S"
    assert task.findtext("t:Settings/t:MultipleInstancesPolicy", namespaces=TASK_NS) == "IgnoreNew"
    assert task.findtext("t:Principals/t:Principal/t:RunLevel", namespaces=TASK_NS) == "LeastPrivilege"
    assert task.findtext("t:Actions/t:Exec/t:Command", namespaces=TASK_NS) == sys.executable
    arguments = task.findtext("t:Actions/t:Exec/t:Arguments", namespaces=TASK_NS)
    assert arguments == f'-m agent --config "{spec.config_path}" run'
    assert plan.install_commands[0] == [
        "schtasks",
        "/Create",
        "/TN",
        "blacklist-agent",
        "/XML",
        str(xml_path),
        "/F",
    ]
    assert plan.uninstall_commands[-1] == ["schtasks", "/Delete", "/TN", "blacklist-agent", "/F"]


def test_windows_task_file_is_written_in_the_encoding_it_declares(tmp_path: Path) -> None:
    plan = plan_service(make_spec(tmp_path), platform="windows", home=tmp_path, env={"USERNAME": "ann"})

    install_service(plan)

    ((xml_path, _),) = plan.files.items()
    raw = xml_path.read_bytes()
    assert raw[:2] in (b"\xff\xfe", b"\xfe\xff")  # UTF-16 with a byte-order mark
    ET.fromstring(raw)  # noqa: S314 (our own output); the parser honours the declared encoding


@pytest.mark.parametrize("bad", ["../etc", "a b", "x" * 41, "shop;rm"])
def test_service_names_that_would_escape_file_names_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="service name"):
        validate_name(bad)


def write_config(tmp_path: Path) -> Path:
    config = tmp_path / "my shop" / "config.toml"
    config.parent.mkdir()
    backend = '[backend]\nbase_url = "https://seller.example"\nusername = "ann"\n'
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n{backend}')
    return config


def run_cli(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    return subprocess.run(
        [sys.executable, "-m", "agent", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_service_install_command_writes_a_unit_whose_command_starts_this_agent(tmp_path: Path) -> None:
    config = write_config(tmp_path)

    install = run_cli("--config", str(config), "service", "install", "--name", "shop", tmp_path=tmp_path)

    assert install.returncode == 0, install.stderr
    unit_path = tmp_path / "xdg" / "systemd" / "user" / "blacklist-agent-shop.service"
    assert f"wrote {unit_path}" in install.stdout
    assert "systemctl --user enable --now blacklist-agent-shop.service" in install.stdout
    argv = exec_start(unit_path.read_text())
    started = subprocess.run([*argv, "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert started.returncode == 0, started.stderr
    assert "--once" in started.stdout  # the unit really runs `blacklist-agent run`


def test_service_dry_run_prints_the_unit_and_writes_nothing(tmp_path: Path) -> None:
    config = write_config(tmp_path)

    dry = run_cli("--config", str(config), "service", "install", "--dry-run", tmp_path=tmp_path)

    assert dry.returncode == 0, dry.stderr
    assert "ExecStart=" in dry.stdout
    assert not (tmp_path / "xdg").exists()
    status = run_cli("--config", str(config), "service", "status", "--json", tmp_path=tmp_path)
    assert status.returncode == 0, status.stderr
    assert '"installed": false' in status.stdout

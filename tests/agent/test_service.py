"""Start at login: the systemd unit is written and checked for real; launchd and Task Scheduler by the
files and commands generated."""

from __future__ import annotations

import json
import os
import plistlib
import shlex
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from agent.errors import ServiceConflict
from agent.service import (
    InstalledService,
    ServiceSpec,
    Systemd,
    SystemdProbe,
    install_service,
    installed_services,
    plan_service,
    probe_systemd,
    service_name_for,
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


# -- one service per store ------------------------------------------------------------------------------


def test_each_store_gets_its_own_service_name() -> None:
    installed = [InstalledService(None, Path("/u/blacklist-agent.service"), Path("/home/ann/.config/x.toml"))]

    default = service_name_for(Path("/c/config.toml"), "ann", installed=[], is_default_config=True)
    second = service_name_for(
        Path("/c/store2.toml"), "Store 2@Shop", installed=installed, is_default_config=False
    )
    reinstalled = service_name_for(
        Path("/home/ann/.config/x.toml"), "whatever", installed=installed, is_default_config=False
    )

    assert default is None  # the one-store case keeps the plain `blacklist-agent`
    assert second == "store-2-shop"
    assert reinstalled is None  # the service already installed for a config keeps its name


def test_installed_services_say_which_config_each_runs_on_every_platform(tmp_path: Path) -> None:
    for platform, env in (("linux", {}), ("macos", {}), ("windows", {"USERNAME": "ann"})):
        one = make_spec(tmp_path, config=f"{platform}-one.toml")
        two = make_spec(tmp_path, name="shop-2", config=f"{platform} two.toml")
        for spec in (one, two):
            install_service(plan_service(spec, platform=platform, home=tmp_path, env=env))

        found = installed_services(platform=platform, home=tmp_path, env=env, working_dir=tmp_path / "data")

        assert {(s.name, s.config_path) for s in found} == {
            (None, one.config_path),
            ("shop-2", two.config_path),
        }


def test_installing_over_another_stores_service_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    first = plan_service(make_spec(tmp_path, config="one.toml"), platform="linux", home=tmp_path, env=NO_BUS)
    install_service(first, config_path=tmp_path / "one.toml")
    (unit,) = first.files
    before = unit.read_text()
    second = plan_service(make_spec(tmp_path, config="two.toml"), platform="linux", home=tmp_path, env=NO_BUS)

    with pytest.raises(ServiceConflict, match=r"already installed for another store's agent") as refused:
        install_service(second, config_path=tmp_path / "two.toml")

    assert refused.value.config_path == tmp_path / "one.toml"
    assert unit.read_text() == before
    install_service(first, config_path=tmp_path / "one.toml")  # the same store again: an update, allowed


# -- systemd user manager --------------------------------------------------------------------------------


def test_systemd_probe_tells_no_systemd_from_no_user_manager_from_a_usable_one(tmp_path: Path) -> None:
    if shutil.which("systemctl") is None:
        pytest.skip("needs the systemctl command")
    run = tmp_path / "run"
    assert probe_systemd({}, run_dir=run).state is Systemd.NOT_RUNNING  # a container: no /run/systemd/system
    (run / "systemd" / "system").mkdir(parents=True)
    assert probe_systemd({}, run_dir=run).state is Systemd.NO_USER_MANAGER  # e.g. ssh without lingering
    user_runtime = run / "user" / str(os.getuid())
    user_runtime.mkdir(parents=True)
    (user_runtime / "bus").touch()
    usable = probe_systemd({}, run_dir=run)  # a `su` shell: the lingering manager's bus, found anyway
    assert usable.state is Systemd.USABLE
    assert usable.env == {"XDG_RUNTIME_DIR": str(user_runtime)}


def test_without_a_user_manager_the_plan_says_how_to_get_one(tmp_path: Path) -> None:
    no_manager = SystemdProbe(Systemd.NO_USER_MANAGER)
    plan = plan_service(make_spec(tmp_path), platform="linux", home=tmp_path, env={}, systemd=no_manager)

    assert not plan.commands_usable
    assert plan.manager_problem is not None
    assert "loginctl enable-linger $USER" in plan.manager_problem
    assert "graphical" in plan.manager_problem


def write_config(tmp_path: Path, name: str = "config.toml", login: str = "ann") -> Path:
    config = tmp_path / "my shop" / name
    config.parent.mkdir(exist_ok=True)
    backend = f'[backend]\nbase_url = "https://seller.example"\nusername = "{login}"\n'
    config.write_text(f'data_dir = "{tmp_path / ("data-" + login)}"\n{backend}')
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


def unit_dir(tmp_path: Path) -> Path:
    return tmp_path / "xdg" / "systemd" / "user"


@pytest.mark.skipif(
    probe_systemd(dict(os.environ)).state is Systemd.USABLE, reason="this machine has a systemd user manager"
)
def test_install_without_a_user_manager_is_refused_with_the_fix_and_installs_nothing(tmp_path: Path) -> None:
    config = write_config(tmp_path)

    install = run_cli("--config", str(config), "service", "install", tmp_path=tmp_path)

    assert install.returncode == 1
    assert "was NOT installed" in install.stderr
    assert "installed and started" not in install.stdout + install.stderr
    state = probe_systemd(dict(os.environ)).state
    fix = "loginctl enable-linger $USER" if state is Systemd.NO_USER_MANAGER else "own supervisor"
    assert fix in install.stderr
    assert not unit_dir(tmp_path).exists()  # nothing half-installed that `status` would call installed
    status = run_cli("--config", str(config), "service", "status", "--json", tmp_path=tmp_path)
    assert json.loads(status.stdout)["installed"] is False


def test_dry_run_shows_a_unit_per_store_whose_command_starts_this_agent(tmp_path: Path) -> None:
    one = write_config(tmp_path, "one.toml", login="ann")
    two = write_config(tmp_path, "two.toml", login="Bob's Shop")

    dry_one = run_cli("--config", str(one), "service", "install", "--dry-run", tmp_path=tmp_path)
    dry_two = run_cli("--config", str(two), "service", "install", "--dry-run", tmp_path=tmp_path)

    assert dry_one.returncode == dry_two.returncode == 0, dry_one.stderr + dry_two.stderr
    assert f"would write {unit_dir(tmp_path) / 'blacklist-agent-ann.service'}" in dry_one.stdout
    assert f"would write {unit_dir(tmp_path) / 'blacklist-agent-bob-s-shop.service'}" in dry_two.stdout
    assert not unit_dir(tmp_path).exists()
    exec_line = next(line for line in dry_two.stdout.splitlines() if line.startswith("ExecStart="))
    argv = exec_start(exec_line)
    assert argv[argv.index("--config") + 1] == str(two)
    started = subprocess.run([*argv, "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert started.returncode == 0, started.stderr
    assert "--once" in started.stdout  # the unit really runs `blacklist-agent run`


def test_status_and_uninstall_find_this_stores_service_and_leave_the_others(tmp_path: Path) -> None:
    one = write_config(tmp_path, "one.toml", login="ann")
    two = write_config(tmp_path, "two.toml", login="bob")
    home = tmp_path / "home"
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    for config, name in ((one, "custom-name"), (two, None)):  # installed earlier, one under a --name
        spec = make_spec(tmp_path, name=name, config=str(config.relative_to(tmp_path)))
        install_service(plan_service(spec, platform="linux", home=home, env=env))

    status_one = json.loads(
        run_cli("--config", str(one), "service", "status", "--json", tmp_path=tmp_path).stdout
    )
    uninstall_two = run_cli("--config", str(two), "service", "uninstall", tmp_path=tmp_path)

    assert status_one["service"] == "blacklist-agent-custom-name"  # found by its config, without --name
    assert status_one["installed"] is True
    assert [o["config"] for o in status_one["other_services"]] == [str(two)]
    assert uninstall_two.returncode == 0, uninstall_two.stderr
    assert f"removed {unit_dir(tmp_path) / 'blacklist-agent.service'}" in uninstall_two.stdout
    assert [p.name for p in unit_dir(tmp_path).iterdir()] == ["blacklist-agent-custom-name.service"]


def test_a_second_store_cannot_take_over_the_first_stores_service_name(tmp_path: Path) -> None:
    one = write_config(tmp_path, "one.toml", login="ann")
    two = write_config(tmp_path, "two.toml", login="bob")
    spec = make_spec(tmp_path, name="shop", config=str(one.relative_to(tmp_path)))
    install_service(
        plan_service(
            spec, platform="linux", home=tmp_path / "home", env={"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
        )
    )
    unit = unit_dir(tmp_path) / "blacklist-agent-shop.service"
    before = unit.read_text()

    taken = run_cli("--config", str(two), "service", "install", "--name", "shop", tmp_path=tmp_path)

    assert taken.returncode == 1
    assert "already installed for another store's agent" in taken.stderr
    assert str(one) in taken.stderr
    suggested = f"`blacklist-agent --config {shlex.quote(str(two))} service install --name NAME`"
    assert f"hint: give this store's agent a service of its own: {suggested}" in taken.stderr
    assert unit.read_text() == before


def test_install_warns_that_the_service_cannot_type_an_encrypted_keyrings_password(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.EncryptedKeyring",
        "BLACKLIST_AGENT_HUB_TOKEN": "token-in-this-shell-only",
    }

    install = subprocess.run(
        [sys.executable, "-m", "agent", "--config", str(config), "service", "install"],
        env=env, capture_output=True, text=True, timeout=60, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip

    assert "warning: the keyring in use (EncryptedKeyring) asks for its own password" in install.stderr
    assert "the background agent cannot type" in install.stderr
    assert (
        "$BLACKLIST_AGENT_HUB_TOKEN is set in this shell, but the service will not see it" in install.stderr
    )
    assert (
        f"`blacklist-agent --config {shlex.quote(str(config))} secrets set hub-token --stdin`"
        in install.stderr
    )
    assert "token-in-this-shell-only" not in install.stderr + install.stdout

"""The service files and commands of each platform: a systemd user unit, a launchd agent, a Task Scheduler
task; and whether this machine's service manager can be used from here (`probe_systemd`).

Pure functions over a `ServiceSpec`, so every platform's output is tested on any machine.
"""

from __future__ import annotations

import enum
import logging
import os
import plistlib
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

logger = logging.getLogger(__name__)

BASE_NAME = "blacklist-agent"
LAUNCHD_LABEL = "com.blacklist-share.agent"
# Exit code 2 means a config error or another agent already running: restarting cannot help.
NO_RESTART_EXIT_CODE = 2
STOP_TIMEOUT_SECONDS = 150  # the runner's stop grace (120 s) plus margin
MAX_NAME = 40


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """What the service runs: which interpreter, which config, which instance name."""

    python: Path
    config_path: Path
    working_dir: Path
    log_dir: Path
    name: str | None = None

    @property
    def service_name(self) -> str:
        return f"{BASE_NAME}-{self.name}" if self.name else BASE_NAME

    @property
    def argv(self) -> list[str]:
        return [str(self.python), "-m", "agent", "--config", str(self.config_path), "run"]


@dataclass(frozen=True, slots=True)
class ServicePlan:
    """Files to write and commands to run for one platform; `commands_usable` is False when they cannot
    run here (no systemd user manager...), and `manager_problem` then says why and what fixes it."""

    platform: str
    service_name: str
    files: dict[Path, str]
    install_commands: list[list[str]]
    uninstall_commands: list[list[str]]
    status_commands: list[list[str]]
    file_encoding: str = "utf-8"
    commands_usable: bool = True
    manager_problem: str | None = None  # why the commands cannot run here, and how to fix that
    command_env: dict[str, str] | None = None  # extra environment for the commands (the user bus)


# -- Linux: systemd user unit ----------------------------------------------------------------------


def _systemd_quote(arg: str) -> str:
    # systemd splits ExecStart like a shell (double quotes, backslash escapes) and expands `%` specifiers.
    arg = arg.replace("%", "%%")
    if arg and not any(c in arg for c in " \t\"\\'"):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def systemd_unit(spec: ServiceSpec) -> str:
    """The `.service` file: restart on failure (not on exit 2), SIGTERM to the agent only (KillMode=mixed,
    so the browser is not killed under a running action) with time to finish the current action."""
    exec_start = " ".join(_systemd_quote(a) for a in spec.argv)
    label = f" ({spec.name})" if spec.name else ""
    return (
        "[Unit]\n"
        f"Description=Blacklist sharing agent{label}\n"
        "\n"
        "[Service]\n"
        "Type=simple\n"
        f"ExecStart={exec_start}\n"
        f"WorkingDirectory={_systemd_quote(str(spec.working_dir))}\n"
        "Environment=PYTHONUNBUFFERED=1\n"
        "Restart=on-failure\n"
        "RestartSec=30\n"
        f"RestartPreventExitStatus={NO_RESTART_EXIT_CODE}\n"
        "KillMode=mixed\n"
        f"TimeoutStopSec={STOP_TIMEOUT_SECONDS}\n"
        "\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )


def systemd_unit_path(service_name: str, *, home: Path, env: dict[str, str]) -> Path:
    config_home = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else home / ".config"
    return config_home / "systemd" / "user" / f"{service_name}.service"


class Systemd(enum.Enum):
    """What `systemctl --user` can do in this session."""

    USABLE = "usable"
    NO_USER_MANAGER = "no user manager"  # systemd runs, but this user has no manager (no login, no linger)
    NOT_RUNNING = "not running"  # the machine does not run systemd (a container, WSL 1...)


@dataclass(frozen=True, slots=True)
class SystemdProbe:
    state: Systemd
    env: dict[str, str] = field(default_factory=dict)  # what systemctl needs to find the user bus


def probe_systemd(env: dict[str, str], *, run_dir: Path = Path("/run")) -> SystemdProbe:
    """Can `systemctl --user` reach this user's manager? It needs systemd as the init system
    (`/run/systemd/system`, as sd_booted(3) checks) and the manager's bus, which exists while the user is
    logged in, or always once lingering is enabled (`loginctl enable-linger`)."""
    if shutil.which("systemctl") is None or not (run_dir / "systemd" / "system").is_dir():
        return SystemdProbe(Systemd.NOT_RUNNING)
    if env.get("DBUS_SESSION_BUS_ADDRESS"):
        return SystemdProbe(Systemd.USABLE)
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and (Path(runtime) / "bus").exists():
        return SystemdProbe(Systemd.USABLE)
    # `su` or sudo shells drop XDG_RUNTIME_DIR although a (lingering) manager runs: point systemctl at it.
    fallback = run_dir / "user" / str(os.getuid()) if hasattr(os, "getuid") else None
    if fallback is not None and (fallback / "bus").exists():
        return SystemdProbe(Systemd.USABLE, {"XDG_RUNTIME_DIR": str(fallback)})
    return SystemdProbe(Systemd.NO_USER_MANAGER)


def systemd_problem(probe: SystemdProbe) -> str | None:
    """Why `systemctl --user` cannot be used here, with what fixes it; None when it can."""
    if probe.state is Systemd.NO_USER_MANAGER:
        return (
            "this session has no systemd user manager (`systemctl --user` cannot reach one), so nothing "
            "would start the agent. Get one by either: running `sudo loginctl enable-linger $USER` (your "
            "manager then runs from boot, also when you are logged out; log in again afterwards), or "
            "logging in to a graphical desktop session; then run this command again"
        )
    if probe.state is Systemd.NOT_RUNNING:
        return (
            "this machine does not run systemd (a container, or WSL without systemd), so nothing here can "
            "start the agent at login: start `blacklist-agent run` with the machine's own supervisor (for "
            "a container, as its command), or install the service on a machine that runs systemd"
        )
    return None


def _plan_linux(spec: ServiceSpec, *, home: Path, env: dict[str, str], probe: SystemdProbe) -> ServicePlan:
    unit = f"{spec.service_name}.service"
    usable = probe.state is Systemd.USABLE
    return ServicePlan(
        platform="linux",
        service_name=spec.service_name,
        files={systemd_unit_path(spec.service_name, home=home, env=env): systemd_unit(spec)},
        install_commands=[
            ["systemctl", "--user", "daemon-reload"],
            ["systemctl", "--user", "enable", "--now", unit],
        ],
        uninstall_commands=[
            ["systemctl", "--user", "disable", "--now", unit],
            ["systemctl", "--user", "daemon-reload"],
        ],
        status_commands=[["systemctl", "--user", "status", "--no-pager", unit]],
        commands_usable=usable,
        manager_problem=systemd_problem(probe),
        command_env=probe.env or None,
    )


# -- macOS: launchd agent --------------------------------------------------------------------------


def launchd_label(spec: ServiceSpec) -> str:
    return f"{LAUNCHD_LABEL}.{spec.name}" if spec.name else LAUNCHD_LABEL


def launchd_plist(spec: ServiceSpec) -> str:
    """A LaunchAgent that starts at login and is restarted when it exits with an error."""
    data = {
        "Label": launchd_label(spec),
        "ProgramArguments": spec.argv,
        "WorkingDirectory": str(spec.working_dir),
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "ThrottleInterval": 30,
        "ProcessType": "Background",
        "EnvironmentVariables": {"PYTHONUNBUFFERED": "1"},
        "StandardOutPath": str(spec.log_dir / "launchd.out.log"),
        "StandardErrorPath": str(spec.log_dir / "launchd.err.log"),
    }
    return plistlib.dumps(data, fmt=plistlib.FMT_XML).decode("utf-8")


def _plan_macos(spec: ServiceSpec, *, home: Path) -> ServicePlan:
    label = launchd_label(spec)
    path = home / "Library" / "LaunchAgents" / f"{label}.plist"
    return ServicePlan(
        platform="macos",
        service_name=label,
        files={path: launchd_plist(spec)},
        install_commands=[["launchctl", "load", "-w", str(path)]],
        uninstall_commands=[["launchctl", "unload", "-w", str(path)]],
        status_commands=[["launchctl", "list", label]],
        commands_usable=shutil.which("launchctl") is not None,
        manager_problem=None if shutil.which("launchctl") else "launchctl was not found on this machine",
    )


# -- Windows: Task Scheduler -----------------------------------------------------------------------


def windows_python(python: Path) -> Path:
    """pythonw.exe (no console window) when it sits next to python.exe."""
    if python.name.lower() == "python.exe":
        candidate = python.with_name("pythonw.exe")
        if candidate.exists():
            return candidate
    return python


def windows_task_xml(spec: ServiceSpec, *, user_id: str) -> str:
    """A task started at this user's logon, with no run-time limit (the default 72 h would stop the agent),
    restarted on failure, ignoring a second start while one runs, not stopped on battery."""
    command, *arguments = spec.argv
    args = subprocess.list2cmdline(arguments)
    return (
        '<?xml version="1.0" encoding="UTF-16"?>\n'
        '<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">\n'
        "  <RegistrationInfo>\n"
        f"    <Description>{escape(f'Blacklist sharing agent ({spec.service_name})')}</Description>\n"
        "  </RegistrationInfo>\n"
        "  <Triggers>\n"
        "    <LogonTrigger>\n"
        "      <Enabled>true</Enabled>\n"
        f"      <UserId>{escape(user_id)}</UserId>\n"
        "    </LogonTrigger>\n"
        "  </Triggers>\n"
        "  <Principals>\n"
        '    <Principal id="Author">\n'
        f"      <UserId>{escape(user_id)}</UserId>\n"
        "      <LogonType>InteractiveToken</LogonType>\n"
        "      <RunLevel>LeastPrivilege</RunLevel>\n"
        "    </Principal>\n"
        "  </Principals>\n"
        "  <Settings>\n"
        "    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>\n"
        "    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>\n"
        "    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>\n"
        "    <StartWhenAvailable>true</StartWhenAvailable>\n"
        "    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>\n"
        "    <RestartOnFailure>\n"
        "      <Interval>PT1M</Interval>\n"
        "      <Count>3</Count>\n"
        "    </RestartOnFailure>\n"
        "    <Enabled>true</Enabled>\n"
        "  </Settings>\n"
        '  <Actions Context="Author">\n'
        "    <Exec>\n"
        f"      <Command>{escape(command)}</Command>\n"
        f"      <Arguments>{escape(args)}</Arguments>\n"
        f"      <WorkingDirectory>{escape(str(spec.working_dir))}</WorkingDirectory>\n"
        "    </Exec>\n"
        "  </Actions>\n"
        "</Task>\n"
    )


def _plan_windows(spec: ServiceSpec, *, user_id: str) -> ServicePlan:
    spec = ServiceSpec(
        python=windows_python(spec.python),
        config_path=spec.config_path,
        working_dir=spec.working_dir,
        log_dir=spec.log_dir,
        name=spec.name,
    )
    name = spec.service_name
    xml_path = spec.working_dir / f"{name}.task.xml"
    return ServicePlan(
        platform="windows",
        service_name=name,
        files={xml_path: windows_task_xml(spec, user_id=user_id)},
        file_encoding="utf-16",  # schtasks /XML expects the encoding the XML declares
        install_commands=[
            ["schtasks", "/Create", "/TN", name, "/XML", str(xml_path), "/F"],
            ["schtasks", "/Run", "/TN", name],
        ],
        uninstall_commands=[
            ["schtasks", "/End", "/TN", name],
            ["schtasks", "/Delete", "/TN", name, "/F"],
        ],
        status_commands=[["schtasks", "/Query", "/TN", name, "/V", "/FO", "LIST"]],
        commands_usable=shutil.which("schtasks") is not None,
        manager_problem=None if shutil.which("schtasks") else "schtasks was not found on this machine",
    )


# -- choosing and applying -------------------------------------------------------------------------


def current_platform() -> str:
    if sys.platform.startswith("win"):
        return "windows"
    if sys.platform == "darwin":
        return "macos"
    return "linux"


def plan_service(
    spec: ServiceSpec,
    *,
    platform: str | None = None,
    home: Path | None = None,
    env: dict[str, str] | None = None,
    systemd: SystemdProbe | None = None,
) -> ServicePlan:
    """What installing `spec` means on `platform` (default: this one); `systemd` overrides the probe."""
    platform = platform or current_platform()
    home = home or Path.home()
    env = dict(os.environ) if env is None else env
    if platform == "linux":
        return _plan_linux(spec, home=home, env=env, probe=systemd or probe_systemd(env))
    if platform == "macos":
        return _plan_macos(spec, home=home)
    if platform == "windows":
        user = env.get("USERNAME", "")
        domain = env.get("USERDOMAIN", "")
        return _plan_windows(spec, user_id=f"{domain}\\{user}" if domain else user)
    raise ValueError(f"unsupported platform {platform!r}")

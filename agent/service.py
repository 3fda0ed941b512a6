"""Start the background agent at login: a systemd user unit, a launchd agent or a Task Scheduler task.

The content of every file and every command is built by pure functions (`plan_service`), so each platform's
output is tested on any machine; `install_service` / `uninstall_service` only write, delete and run what the
plan says. Each service runs `<this interpreter> -m agent --config <absolute path> run`, so it uses the same
installation and the same config (hence the same data_dir) as the command that installed it. Several agents
on one machine get distinct services through `--name`.
"""

from __future__ import annotations

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
    run here (no user bus...), in which case the CLI prints them for the user."""

    platform: str
    service_name: str
    files: dict[Path, str]
    install_commands: list[list[str]]
    uninstall_commands: list[list[str]]
    status_commands: list[list[str]]
    file_encoding: str = "utf-8"
    commands_usable: bool = True
    notes: list[str] = field(default_factory=list)


def validate_name(name: str | None) -> str | None:
    """Instance names become file names and unit names: letters, digits, `-` and `_` only."""
    if name is None or name == "":
        return None
    if not all(c.isascii() and (c.isalnum() or c in "-_") for c in name) or len(name) > 40:
        raise ValueError(f"service name {name!r}: use up to 40 letters, digits, '-' or '_'")
    return name


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


def systemd_user_bus_available(env: dict[str, str]) -> bool:
    """`systemctl --user` needs systemctl and the user manager's bus (absent in containers and over plain
    ssh sessions without lingering)."""
    if shutil.which("systemctl") is None:
        return False
    if env.get("DBUS_SESSION_BUS_ADDRESS"):
        return True
    runtime = env.get("XDG_RUNTIME_DIR")
    return runtime is not None and (Path(runtime) / "bus").exists()


def _plan_linux(spec: ServiceSpec, *, home: Path, env: dict[str, str]) -> ServicePlan:
    unit = f"{spec.service_name}.service"
    usable = systemd_user_bus_available(env)
    notes = []
    if not usable:
        notes.append(
            "systemctl --user is not usable in this session; run the commands above once you are "
            "logged in to a desktop or ssh session with a user bus"
        )
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
        notes=notes,
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
) -> ServicePlan:
    """What installing `spec` means on `platform` (default: this one)."""
    platform = platform or current_platform()
    home = home or Path.home()
    env = dict(os.environ) if env is None else env
    if platform == "linux":
        return _plan_linux(spec, home=home, env=env)
    if platform == "macos":
        return _plan_macos(spec, home=home)
    if platform == "windows":
        user = env.get("USERNAME", "")
        domain = env.get("USERDOMAIN", "")
        return _plan_windows(spec, user_id=f"{domain}\\{user}" if domain else user)
    raise ValueError(f"unsupported platform {platform!r}")


@dataclass(slots=True)
class ServiceOutcome:
    """What install/uninstall did: files written or removed, commands run (with their exit codes) and
    commands the user still has to run."""

    files_written: list[Path] = field(default_factory=list)
    files_removed: list[Path] = field(default_factory=list)
    commands_run: list[tuple[list[str], int, str]] = field(default_factory=list)
    commands_to_run: list[list[str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every command succeeded (meaningful for install; uninstall tolerates "not running")."""
        return all(code == 0 for _, code, _ in self.commands_run)


def _run(argv: list[str]) -> tuple[int, str]:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 1, str(exc)
    return done.returncode, (done.stdout + done.stderr).strip()


def install_service(plan: ServicePlan) -> ServiceOutcome:
    outcome = ServiceOutcome()
    for path, content in plan.files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding=plan.file_encoding)
        outcome.files_written.append(path)
        logger.info("wrote %s", path)
    if not plan.commands_usable:
        outcome.commands_to_run = list(plan.install_commands)
        return outcome
    for argv in plan.install_commands:
        code, output = _run(argv)
        outcome.commands_run.append((argv, code, output))
        if code != 0:
            logger.error("%s failed (exit %d): %s", " ".join(argv), code, output)
            break
    return outcome


def uninstall_service(plan: ServicePlan) -> ServiceOutcome:
    outcome = ServiceOutcome()
    if plan.commands_usable:
        for argv in plan.uninstall_commands:
            # Stopping something that is not running fails; removing the files must still happen.
            code, output = _run(argv)
            outcome.commands_run.append((argv, code, output))
            if code != 0:
                logger.info("%s exited %d: %s", " ".join(argv), code, output)
    else:
        outcome.commands_to_run = list(plan.uninstall_commands)
    for path in plan.files:
        if path.exists():
            path.unlink()
            outcome.files_removed.append(path)
            logger.info("removed %s", path)
    return outcome


def installed_files(plan: ServicePlan) -> list[Path]:
    return [path for path in plan.files if path.exists()]


def service_status(plan: ServicePlan) -> tuple[bool, str | None]:
    """(installed, what the service manager says, or None when it cannot be asked here)."""
    installed = bool(installed_files(plan))
    if not plan.commands_usable:
        return installed, None
    outputs = [_run(argv)[1] for argv in plan.status_commands]
    return installed, "\n".join(outputs)

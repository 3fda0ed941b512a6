"""Start the background agent at login: a systemd user unit, a launchd agent or a Task Scheduler task.

The content of every file and every command is built by pure functions (`plan_service`), so each platform's
output is tested on any machine; `install_service` / `uninstall_service` only write, delete and run what the
plan says. Each service runs `<this interpreter> -m agent --config <absolute path> run`, so it uses the same
installation and the same config (hence the same data_dir) as the command that installed it.

One service per store: each config gets its own service name (`service_name_for`): the one already installed
for that config, else `blacklist-agent` for the default config and `blacklist-agent-<store login>` for any
other, or the `--name` the user gives. Installing never replaces a service that runs another config: that
would silently move the first store's agent onto the second store's config.

Linux needs a systemd user manager: `probe_systemd` tells a usable one from a session without one (fixed by
`loginctl enable-linger` or a graphical login) and from a machine that does not run systemd at all (a
container); the plan then carries the reason (`ServicePlan.manager_problem`) and the CLI installs nothing.

    platforms.py   the files and commands of each platform, and the systemd probe
    instances.py   which service serves which config; the name of a new one
    manager.py     writing, running and removing what a plan says
"""

from agent.errors import ServiceConflict
from agent.service.instances import (
    InstalledService,
    conflicting_file,
    installed_services,
    name_from_login,
    service_name_for,
    validate_name,
)
from agent.service.manager import (
    ServiceOutcome,
    install_service,
    installed_files,
    plan_for,
    refuse_conflict,
    service_status,
    uninstall_service,
)
from agent.service.platforms import (
    BASE_NAME,
    ServicePlan,
    ServiceSpec,
    Systemd,
    SystemdProbe,
    current_platform,
    launchd_plist,
    plan_service,
    probe_systemd,
    systemd_unit,
    windows_task_xml,
)

__all__ = [
    "BASE_NAME",
    "InstalledService",
    "ServiceConflict",
    "ServiceOutcome",
    "ServicePlan",
    "ServiceSpec",
    "Systemd",
    "SystemdProbe",
    "conflicting_file",
    "current_platform",
    "install_service",
    "installed_files",
    "installed_services",
    "launchd_plist",
    "name_from_login",
    "plan_for",
    "plan_service",
    "probe_systemd",
    "refuse_conflict",
    "service_name_for",
    "service_status",
    "systemd_unit",
    "uninstall_service",
    "validate_name",
    "windows_task_xml",
]

"""Carrying out a service plan: write the files, run the commands (where they can run here), remove them."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from agent.config import Settings
from agent.errors import ServiceConflict
from agent.log import FILE_ONLY
from agent.paths import default_config_path
from agent.service.instances import InstalledService, conflicting_file, installed_services, service_name_for
from agent.service.platforms import ServicePlan, ServiceSpec, plan_service

logger = logging.getLogger(__name__)


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


def _run(argv: list[str], extra_env: dict[str, str] | None = None) -> tuple[int, str]:
    env = {**os.environ, **extra_env} if extra_env else None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 1, str(exc)
    return done.returncode, (done.stdout + done.stderr).strip()


def plan_for(
    settings: Settings, config_path: Path, *, name: str | None = None
) -> tuple[ServicePlan, ServiceSpec, list[InstalledService]]:
    """The service plan of the agent that runs `config_path`, and every agent service installed here.

    The name: `name` when given (validated by the caller), else the one already installed for this config,
    else the default for it (`service_name_for`). The CLI and the dashboard both plan through here.
    """
    config = config_path.expanduser().absolute()
    working_dir = settings.data_dir.absolute()
    installed = installed_services(working_dir=working_dir)
    if name is None:
        is_default = config == default_config_path().expanduser().absolute()
        name = service_name_for(
            config, settings.backend.username, installed=installed, is_default_config=is_default
        )
    spec = ServiceSpec(
        python=Path(sys.executable),
        config_path=config,
        working_dir=working_dir,
        log_dir=settings.log_dir.absolute(),
        name=name,
    )
    return plan_service(spec), spec, installed


def refuse_conflict(plan: ServicePlan, config_path: Path) -> None:
    """ServiceConflict when `plan` would replace a service file that runs another config."""
    conflict = conflicting_file(plan, config_path)
    if conflict is not None:
        path, other = conflict
        raise ServiceConflict(
            f"{plan.service_name} is already installed for another store's agent (its {path} runs "
            f"config {other or 'that cannot be read'}); installing it again would move that store's "
            "agent onto this config",
            path=path,
            config_path=other,
        )


def install_service(plan: ServicePlan, *, config_path: Path | None = None) -> ServiceOutcome:
    """Write the files and run the commands (when they can run here). With `config_path`, refuse with
    ServiceConflict rather than replace a service file that runs another config."""
    if config_path is not None:
        refuse_conflict(plan, config_path)
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
        code, output = _run(argv, plan.command_env)
        outcome.commands_run.append((argv, code, output))
        if code != 0:
            # The CLI prints the failure itself: once on the console is enough.
            logger.info("%s failed (exit %d): %s", " ".join(argv), code, output, extra=FILE_ONLY)
            break
    return outcome


def uninstall_service(plan: ServicePlan) -> ServiceOutcome:
    outcome = ServiceOutcome()
    if plan.commands_usable:
        for argv in plan.uninstall_commands:
            # Stopping something that is not running fails; removing the files must still happen.
            code, output = _run(argv, plan.command_env)
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
    outputs = [_run(argv, plan.command_env)[1] for argv in plan.status_commands]
    return installed, "\n".join(outputs)

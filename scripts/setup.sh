#!/usr/bin/env bash
# Set up a fresh machine: a virtualenv with the pinned dependencies, the project itself, and a browser.
#   bash scripts/setup.sh          # what a seller or the demo needs
#   bash scripts/setup.sh --dev    # plus the test and lint tools
# Browser: Playwright's own Chromium where `playwright install chromium` can download it; otherwise a
# system Chromium (installed from the distribution's packages when we are root on Debian/Ubuntu). On
# Windows the agent uses Edge through Playwright's `channel` and needs no download at all.
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[[ "${1:-}" == "--dev" ]] && dev=1
python=${PYTHON:-python3}
venv=${VENV:-.venv}

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

"$python" - <<'PY' || { echo "Python 3.11 or newer is required (set PYTHON=/path/to/python3.11)." >&2; exit 2; }
import sys
sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY

if [[ ! -x "$venv/bin/python" ]]; then
    say "Creating $venv"
    "$python" -m venv "$venv"
fi
lock=requirements.lock
[[ $dev == 1 ]] && lock=requirements-dev.lock
say "Installing pinned dependencies ($lock)"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$lock"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e .

say "Looking for a browser"
if "$venv/bin/python" -m playwright install chromium >/tmp/playwright-install.log 2>&1; then
    echo "Playwright-managed Chromium installed."
elif command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null; then
    echo "Playwright could not download its Chromium; using the system browser: $(command -v chromium chromium-browser google-chrome | head -1)"
elif [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "Playwright could not download its Chromium; installing Debian's chromium package."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
    echo "No browser found and Playwright could not download one." >&2
    echo "Install Chromium or Google Chrome, or set [browser] executable in the config." >&2
    exit 1
fi
say "Ready. Try: $venv/bin/blacklist-agent --help"

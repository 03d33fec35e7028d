#!/usr/bin/env bash
# Install everything the test suite needs, then run lint, types, import contracts and every test.
# This is the README's test command and what CI runs (.ci/run). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages some tests drive for real: Chromium (browser tests), nginx (reverse proxy),
# vim, less and top (full-screen programs in tests/terminal), dbus (a session bus for the
# notification tests), and the libraries Qt's offscreen platform loads. As root with apt-get they are installed; elsewhere the tests that need them
# are skipped, each with its reason.
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v vim >/dev/null || need+=(vim)
command -v less >/dev/null || need+=(less)
command -v top >/dev/null || need+=(procps)
{ command -v Xvfb && command -v xdotool; } >/dev/null || need+=(xvfb xdotool)
# A C compiler: tests/desktop/test_first_run.py builds a Qt plugin that lacks a library.
command -v cc >/dev/null || need+=(gcc)
# A session bus of their own for the desktop's notification tests.
{ command -v dbus-daemon && command -v dbus-send; } >/dev/null || need+=(dbus-daemon dbus-bin)
for lib in libEGL.so.1 libGL.so.1 libxkbcommon.so.0 libfontconfig.so.1 libdbus-1.so.3; do
  # grep reads it all: with -q it could stop early, and pipefail would take ldconfig's SIGPIPE
  # for a missing library.
  ldconfig -p 2>/dev/null | grep "$lib" >/dev/null || need+=(libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3)
done
if [ ${#need[@]} -gt 0 ]; then
  mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== apt-get install ${need[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "== missing system packages (not root, or no apt-get): ${need[*]}"
  fi
fi

# Exactly what requirements/lock.txt pins (scripts/lock.sh makes it): every package with its
# hash, wheels only, pip and the build backend included; then the project itself, editable.
quiet_pip() { .venv/bin/python -m pip install --quiet "$@" 2>&1 | { grep -v "is ignored" || true; }; }
python3 -m venv .venv
quiet_pip --require-hashes --only-binary=:all: -r requirements/lock.txt
quiet_pip --no-deps --no-build-isolation -e .
# Bytecode for the project's own modules, once: where PYTHONDONTWRITEBYTECODE is set (as on
# these machines) every backend and app a test starts would compile them all again.
.venv/bin/python -m compileall -q -j 0 backend desktop vtengine tests >/dev/null

# One command a line: under set -e a failure in an && list would not stop the script.
echo "== ruff"; .venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy"; .venv/bin/mypy
echo "== import contracts"; .venv/bin/lint-imports
echo "== pytest"; exec .venv/bin/python -m pytest "$@"

#!/usr/bin/env bash
# Build SessionDock's one-folder bundle: dist/sessiondock/sessiondock (see docs/packaging.md).
#
#   bash packaging/build.sh
#
# Uses .venv (made if missing; PYTHON=... picks another Python) and installs into it exactly
# what requirements/lock.txt pins (PyInstaller included; nothing to do when it is there already),
# and on Linux first installs the system libraries Qt's xcb platform plugin links to, so that
# they are copied into the bundle. It fails if the bundled xcb plugin still lacks a library, or
# if the bundle does not run.
# DIST_DIR and WORK_DIR move the output (default dist/) and PyInstaller's cache (build/pyinstaller).
set -euo pipefail
cd "$(dirname "$0")/.."

DIST_DIR=${DIST_DIR:-dist}
WORK_DIR=${WORK_DIR:-build/pyinstaller}
BUNDLE="$DIST_DIR/sessiondock"
STAMP="$DIST_DIR/sessiondock.inputs"
started=$(date +%s.%N)

quiet_pip() { "$PY" -m pip install --quiet "$@" 2>&1 | { grep -v "is ignored" || true; }; }

if [ -n "${PYTHON:-}" ]; then
  PY=$PYTHON
else
  PY=.venv/bin/python
  if [ ! -x "$PY" ]; then
    echo "== making .venv"
    python3 -m venv .venv
  fi
fi

# The bundle is made of what the lock pins, whatever the environment held before.
echo "== pip install -r requirements/lock.txt"
quiet_pip --require-hashes --only-binary=:all: -r requirements/lock.txt
quiet_pip --no-deps --no-build-isolation -e .

# Qt's xcb plugin links to libraries the PySide6 wheel does not ship. PyInstaller copies them
# into the bundle only if they are on this machine when it builds.
declare -A PACKAGE_OF=(
  [libxcb-icccm.so.4]=libxcb-icccm4 [libxcb-keysyms.so.1]=libxcb-keysyms1
  [libxcb-cursor.so.0]=libxcb-cursor0 [libxcb-image.so.0]=libxcb-image0
  [libxcb-render-util.so.0]=libxcb-render-util0 [libxcb-render.so.0]=libxcb-render0
  [libxcb-randr.so.0]=libxcb-randr0 [libxcb-shape.so.0]=libxcb-shape0
  [libxcb-shm.so.0]=libxcb-shm0 [libxcb-sync.so.1]=libxcb-sync1
  [libxcb-xfixes.so.0]=libxcb-xfixes0 [libxcb-xkb.so.1]=libxcb-xkb1
  [libxcb-xinerama.so.0]=libxcb-xinerama0 [libxcb-xinput.so.0]=libxcb-xinput0
  [libxcb.so.1]=libxcb1 [libX11-xcb.so.1]=libx11-xcb1 [libX11.so.6]=libx11-6
  [libxkbcommon-x11.so.0]=libxkbcommon-x11-0 [libxkbcommon.so.0]=libxkbcommon0
  [libEGL.so.1]=libegl1 [libGL.so.1]=libgl1 [libOpenGL.so.0]=libopengl0
  [libfontconfig.so.1]=libfontconfig1 [libfreetype.so.6]=libfreetype6
  [libdbus-1.so.3]=libdbus-1-3 [libSM.so.6]=libsm6 [libICE.so.6]=libice6
)

missing_libs() {  # the "not found" libraries of a shared object, one a line
  ldd "$@" 2>/dev/null | awk '/not found/ {print $1}' | sort -u
}

if [ "$(uname -s)" = Linux ]; then
  qt_plugins=$("$PY" -c "import os, PySide6; print(os.path.join(os.path.dirname(PySide6.__file__), 'Qt', 'plugins'))")
  need=(libxcb-icccm4 libxcb-keysyms1)
  for lib in $(missing_libs "$qt_plugins/platforms/libqxcb.so"); do
    need+=("${PACKAGE_OF[$lib]:-}")
  done
  mapfile -t need < <(printf '%s\n' "${need[@]}" | grep . | sort -u)
  absent=()
  for package in "${need[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
      || absent+=("$package")
  done
  if [ ${#absent[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "== apt-get install ${absent[*]}"
      apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${absent[@]}" >/dev/null
    else
      echo "== missing system packages (not root, or no apt-get): ${absent[*]}" >&2
      echo "   install them, or the bundle's xcb plugin cannot load on machines without them" >&2
    fi
  fi
fi

echo "== pyinstaller packaging/sessiondock.spec -> $BUNDLE"
rm -f "$STAMP"
inputs=$("$PY" packaging/inputs_hash.py)  # before building: what this build is made from
"$PY" -m PyInstaller --noconfirm --log-level WARN \
  --distpath "$DIST_DIR" --workpath "$WORK_DIR" packaging/sessiondock.spec

if [ "$(uname -s)" = Linux ]; then
  # At run time the bootloader puts _internal/ first on the library path: check the same way.
  internal="$BUNDLE/_internal"
  xcb="$internal/PySide6/Qt/plugins/platforms/libqxcb.so"
  [ -f "$xcb" ] || { echo "FAILED: the bundle has no xcb plugin ($xcb)" >&2; exit 1; }
  lost=$(LD_LIBRARY_PATH="$internal" missing_libs "$xcb" || true)
  if [ -n "$lost" ]; then
    echo "FAILED: the bundle's xcb plugin misses: $(echo $lost)" >&2
    echo "   install the packages that provide them and build again" >&2
    exit 1
  fi
  for lib in libxcb-icccm.so.4 libxcb-keysyms.so.1; do
    [ -e "$internal/$lib" ] || { echo "FAILED: $lib was not copied into the bundle" >&2; exit 1; }
  done
fi

version=$("$BUNDLE/sessiondock" --version) || { echo "FAILED: the bundle does not run" >&2; exit 1; }
echo "$inputs" >"$STAMP"
elapsed=$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN {printf "%.0f", e - s}')
echo "== built $BUNDLE/sessiondock ($version, $(du -sh "$BUNDLE" | cut -f1)) in ${elapsed} s"

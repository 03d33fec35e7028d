#!/usr/bin/env bash
# Pin, with hashes, every package that CI (scripts/test.sh) and the bundle (packaging/build.sh)
# install: pyproject.toml's dependencies with all its extras, plus requirements/install.in.
# For CPython 3.11 on Linux x86_64 with glibc 2.36 (Debian 12, the project's machines; PySide6
# 6.10 and later need glibc 2.34), from PyPI, wherever it runs:
#
#   bash scripts/lock.sh                # after changing a dependency or a bound: least change
#   bash scripts/lock.sh --upgrade      # the newest versions the bounds allow
#   bash scripts/lock.sh -P aiohttp     # only that package to its newest (--upgrade-package)
#
# The result is requirements/lock.txt. The resolver is uv, at the version below, kept in its own
# venv under build/ (nothing of it goes into .venv).
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
tool="build/uv-$UV_VERSION"
if [ ! -x "$tool/bin/uv" ]; then
  python3 -m venv "$tool"
  "$tool/bin/python" -m pip install --quiet "uv==$UV_VERSION" 2>&1 | { grep -v "is ignored" || true; }
fi

# --no-config: no user or machine uv.toml; --no-build: only versions with wheels, as installs
# from the lock take wheels only (--only-binary=:all:).
"$tool/bin/uv" --no-config pip compile pyproject.toml requirements/install.in \
  --all-extras --generate-hashes --no-build \
  --python-version 3.11 --python-platform x86_64-manylinux_2_36 \
  --default-index https://pypi.org/simple \
  --custom-compile-command "bash scripts/lock.sh" \
  --output-file requirements/lock.txt --quiet "$@"
echo "requirements/lock.txt: $(grep -c '^[a-zA-Z]' requirements/lock.txt) packages"

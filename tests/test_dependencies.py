"""pyproject.toml bounds every dependency, and requirements/lock.txt pins each of them inside
those bounds, with hashes: what users install from the bounds and what CI and the bundle install
from the lock cannot drift apart. No network: the files only."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
LOCK = ROOT / "requirements" / "lock.txt"
INSTALL_IN = ROOT / "requirements" / "install.in"

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def runtime() -> list[Requirement]:
    return [Requirement(line) for line in PYPROJECT["project"]["dependencies"]]


def extras() -> list[Requirement]:
    """Every extra's requirements but the project's own (``sessiondock[test,packaging]``)."""
    name = canonicalize_name(PYPROJECT["project"]["name"])
    found = [Requirement(line) for group in PYPROJECT["project"]["optional-dependencies"].values()
             for line in group]  # fmt: skip
    return [req for req in found if canonicalize_name(req.name) != name]


def build() -> list[Requirement]:
    return [Requirement(line) for line in PYPROJECT["build-system"]["requires"]]


def install_in() -> list[Requirement]:
    lines = INSTALL_IN.read_text(encoding="utf-8").splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]


def pins() -> dict[str, tuple[Version, int]]:
    """The lock's packages: version and number of hashes."""
    found: dict[str, tuple[Version, int]] = {}
    current = ""
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        if match := _PIN.match(line):
            current = canonicalize_name(match[1])
            assert current not in found, f"{current} is pinned twice"
            found[current] = (Version(match[2]), 0)
        elif line.strip().startswith("--hash=sha256:") and current:
            version, hashes = found[current]
            found[current] = (version, hashes + 1)
    return found


def bounds(req: Requirement) -> tuple[bool, bool]:
    operators = {spec.operator for spec in req.specifier}
    lower = bool(operators & {">=", ">", "==", "~=", "==="})
    upper = bool(operators & {"<", "<=", "==", "~=", "==="})
    return lower, upper


@pytest.mark.parametrize("req", runtime() + extras() + build(), ids=str)
def test_every_dependency_has_a_lower_and_an_upper_bound(req: Requirement) -> None:
    assert bounds(req) == (True, True), f"{req}: give it both a lower and an upper bound"


def test_the_bound_checker_tells_bounded_from_open_ends() -> None:
    assert bounds(Requirement("a>=1,<2")) == (True, True)
    assert bounds(Requirement("a~=1.4")) == (True, True)
    assert bounds(Requirement("a>=1")) == (True, False)
    assert bounds(Requirement("a<2")) == (False, True)
    assert bounds(Requirement("a")) == (False, False)


@pytest.mark.parametrize("req", runtime() + extras() + build() + install_in(), ids=str)
def test_the_lock_pins_every_dependency_inside_its_bounds(req: Requirement) -> None:
    locked = pins()
    name = canonicalize_name(req.name)
    assert name in locked, f"{req.name} is not in {LOCK.name}: run bash scripts/lock.sh"
    version, _ = locked[name]
    assert req.specifier.contains(version, prereleases=True), (
        f"{LOCK.name} pins {name}=={version}, outside {req}: run bash scripts/lock.sh"
    )


def test_every_pin_has_a_hash() -> None:
    locked = pins()
    assert len(locked) > 20  # the parser found the lock's packages
    assert [name for name, (_, hashes) in locked.items() if hashes == 0] == []


@pytest.mark.parametrize("script", ["scripts/test.sh", "packaging/build.sh"])
def test_ci_and_the_bundle_install_from_the_lock(script: str) -> None:
    text = (ROOT / script).read_text(encoding="utf-8")
    installs = [line for line in text.splitlines() if "quiet_pip " in line and "()" not in line]
    assert installs == [
        "quiet_pip --require-hashes --only-binary=:all: -r requirements/lock.txt",
        "quiet_pip --no-deps --no-build-isolation -e .",
    ]

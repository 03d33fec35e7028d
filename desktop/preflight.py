"""Before Qt: can this machine show the app's window? If not, one line saying what is missing.

Qt itself, asked to open a window with no display or without the system libraries its xcb
platform plugin links (PySide6's wheels leave out ``libxcb-cursor0`` and a few more), prints a
page about plugins and aborts. Here the same two facts are found first, without starting Qt:
the display from the environment, the libraries by loading the platform plugin the way Qt would
(``dlopen``, whose error names the first library missing). ``sessiondock doctor`` prints these
checks and a few more.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# Platform plugins that need no display (Qt's own names, QT_QPA_PLATFORM).
HEADLESS = frozenset({"offscreen", "minimal", "minimalegl", "vnc", "linuxfb", "eglfs"})
# What provides each library Qt's xcb and Wayland plugins link and PySide6's wheels leave out:
# (Debian/Ubuntu package, Fedora package).
PACKAGES = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-xinerama.so.0": ("libxcb-xinerama0", "libxcb"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libwayland-client.so.0": ("libwayland-client0", "libwayland-client"),
    "libwayland-cursor.so.0": ("libwayland-cursor0", "libwayland-cursor"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2"),
}
BROWSER_ONLY = "or run `sessiondock serve` and use it from a browser"
_MISSING = re.compile(r"(lib[\w.+-]+\.so(?:\.\d+)*): cannot open shared object file")


@dataclass(frozen=True)
class Check:
    """One thing the app needs: ``ok``, what was found (or what is missing), and the fix."""

    name: str
    ok: bool
    found: str
    fix: str = ""


def platform_plugin(env: Mapping[str, str], system: str = sys.platform) -> str:
    """The platform plugin Qt will load: QT_QPA_PLATFORM's first choice, else the system's."""
    chosen = env.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip()
    if chosen:
        return chosen
    if system == "darwin":
        return "cocoa"
    if system.startswith("win"):
        return "windows"
    # Qt 6 prefers Wayland in a Wayland session, else X11.
    if env.get("WAYLAND_DISPLAY") and (
        env.get("XDG_SESSION_TYPE") == "wayland" or not env.get("DISPLAY")
    ):
        return "wayland"
    return "xcb"


def check_display(env: Mapping[str, str], system: str = sys.platform) -> Check:
    plugin = platform_plugin(env, system)
    if plugin in HEADLESS:
        return Check("display", True, f"none needed (QT_QPA_PLATFORM={plugin})")
    if plugin == "xcb":
        if env.get("DISPLAY"):
            display = env["DISPLAY"]
            if not x_server_answers(display):
                return Check("display", False, f"no X server answers at DISPLAY={display}",
                             f"start one or fix DISPLAY, {BROWSER_ONLY}")  # fmt: skip
            return Check("display", True, f"X11 display {display}")
        return Check(
            "display", False, "no display: DISPLAY and WAYLAND_DISPLAY are unset",
            f"run it in a desktop session, {BROWSER_ONLY}",
        )  # fmt: skip
    if plugin == "wayland":
        if env.get("WAYLAND_DISPLAY"):
            return Check("display", True, f"Wayland display {env['WAYLAND_DISPLAY']}")
        return Check("display", False, "no Wayland display: WAYLAND_DISPLAY is unset",
                     f"run it in a desktop session, {BROWSER_ONLY}")  # fmt: skip
    return Check("display", True, f"{plugin} (the system's own)")


def x_server_answers(display: str, timeout: float = 1.0) -> bool:
    """Whether an X server takes connections at ``display`` (``[host]:N[.screen]``): its Unix
    socket for a local display, TCP port 6000 + N for a remote one (as ssh -X gives)."""
    host, _, rest = display.rpartition(":")
    number = rest.split(".")[0]
    if not number.isdigit():
        return True  # a form we do not know: let Qt judge
    if host in ("", "unix"):
        path = f"/tmp/.X11-unix/X{number}"
        for address in (path, "\0" + path):  # a file, or Linux's abstract socket of that name
            with socket.socket(socket.AF_UNIX) as sock, contextlib.suppress(OSError):
                sock.settimeout(timeout)
                sock.connect(address)
                return True
        return False
    try:
        socket.create_connection((host, 6000 + int(number)), timeout).close()
    except OSError:
        return False
    return True


def plugin_file(plugin: str, env: Mapping[str, str], pyside: Path) -> Path | None:
    """The file of Qt's platform plugin ``plugin``, where Qt looks for it: the folders of
    QT_QPA_PLATFORM_PLUGIN_PATH, then those of PySide6 (in ``pyside``) (None: not found)."""
    folders = [Path(p) for p in env.get("QT_QPA_PLATFORM_PLUGIN_PATH", "").split(os.pathsep) if p]
    folders.append(pyside / "Qt" / "plugins" / "platforms")
    for folder in folders:
        if (folder / f"libq{plugin}.so").is_file():
            return folder / f"libq{plugin}.so"
    return None


def missing_library(error: str) -> str | None:
    """The library a loader's error names as missing (``libxcb-cursor.so.0: cannot open...``)."""
    found = _MISSING.search(error)
    return found[1] if found else None


def install_hint(library: str, os_release: str | None = None) -> str:
    """The command that installs ``library``, for this distribution (or for both kinds)."""
    debian, fedora = PACKAGES.get(library, ("", ""))
    if not debian:
        return f"install the package that provides {library}"
    apt = f"sudo apt-get install {debian}"
    dnf = f"sudo dnf install {fedora}"
    family = _family(os_release)
    if family == "debian":
        return apt
    if family == "fedora":
        return dnf
    return f"{apt} (Debian, Ubuntu) or {dnf} (Fedora)"


def _family(os_release: str | None) -> str:
    if os_release is None:
        try:
            os_release = Path("/etc/os-release").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
    ids = " ".join(
        line.split("=", 1)[1].strip().strip('"')
        for line in os_release.splitlines()
        if line.startswith(("ID=", "ID_LIKE="))
    ).split()
    if {"debian", "ubuntu"} & set(ids):
        return "debian"
    if {"fedora", "rhel", "centos"} & set(ids):
        return "fedora"
    return ""


def check_qt(env: Mapping[str, str], system: str = sys.platform) -> Check:
    """Qt's libraries and the platform plugin's: loaded as Qt would, the first missing named."""
    try:
        import PySide6  # only the package: no Qt library is loaded by this
    except ImportError as exc:
        return Check("Qt", False, f"PySide6 cannot be imported: {exc}",
                     "pip install 'PySide6-Essentials>=6.7,<6.12'")  # fmt: skip
    plugin = platform_plugin(env, system)
    pyside = Path(PySide6.__file__).parent
    path = plugin_file(plugin, env, pyside) if system.startswith("linux") else None
    if path is None:
        return Check("Qt", True, f"PySide6 {PySide6.__version__}, platform {plugin}")
    try:
        ctypes.CDLL(str(path), mode=os.RTLD_LAZY)
    except OSError as exc:
        library = missing_library(str(exc))
        if library is None:
            return Check("Qt", False, f"Qt's {plugin} plugin does not load: {exc}", BROWSER_ONLY)
        return Check("Qt", False, f"{library} is missing (Qt's {plugin} plugin needs it)",
                     f"{install_hint(library)}; {BROWSER_ONLY}")  # fmt: skip
    return Check("Qt", True, f"PySide6 {PySide6.__version__}, platform {plugin} loads")


def window_problem(env: Mapping[str, str] | None = None) -> str | None:
    """Why the app cannot open its window here, as one line with the fix (None: it can)."""
    env = os.environ if env is None else env
    for check in (check_display(env), check_qt(env)):
        if not check.ok:
            return f"sessiondock: error: {check.found}; {check.fix}"
    return None


def import_problem(error: ImportError) -> str:
    """An ImportError of Qt's modules (a system library missing), as one line with the fix."""
    library = missing_library(str(error))
    if library is None:
        return f"sessiondock: error: Qt does not load: {error}; {BROWSER_ONLY}"
    fix = f"{install_hint(library)}; {BROWSER_ONLY}"
    return f"sessiondock: error: {library} is missing (Qt needs it); {fix}"

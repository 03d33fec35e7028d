"""``sessiondock``: the desktop app; ``serve``: the backend alone; ``status`` and ``stop``: a
backend running in the background; ``doctor``: what this machine has.

One entry point for all, so that a frozen bundle's single executable can run itself as its
own backend. The backend is imported only for its own commands: the app talks to it over HTTP.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["serve"], ["status"], ["stop"]):
        from backend.cli import main as serve

        return serve(args)
    if args[:1] == ["--version"]:
        from backend.cli import main as serve

        return serve(args)
    if args[:1] == ["host"]:  # the session host (backend/host): the backend starts it
        from backend.host.server import main as host

        return host(args[1:])
    if args[:1] == ["doctor"]:
        from desktop.doctor import main as doctor

        return doctor(args[1:])
    from desktop.preflight import import_problem, window_problem

    # Qt, without a display or a system library, aborts with a page about plugins: say first,
    # in one line, what is missing and how to get it.
    problem = None if {"-h", "--help"} & set(args) else window_problem()
    if problem is not None:
        print(problem, file=sys.stderr)
        return 2
    try:
        from desktop.app import main as run_app
    except ImportError as exc:
        if "PySide6" not in str(exc) and ".so" not in str(exc):
            raise
        print(import_problem(exc), file=sys.stderr)
        return 2
    return run_app(args)

"""``sessiondock``: the desktop app, or with ``serve`` the backend alone.

One entry point for both, so that a frozen bundle's single executable can run itself as its
own backend. The backend is imported only for ``serve``: the app talks to it over HTTP.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["serve"]:
        from backend.cli import main as serve

        return serve(args)
    if args[:1] == ["--version"]:
        from backend.cli import main as serve

        return serve(args)
    from desktop.app import main as run_app

    return run_app(args)

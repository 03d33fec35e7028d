"""Qt tests run their coroutines on the app's own loop (qasync on Qt's event loop)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from desktop.qtloop import QtEventLoop


def _qt_loop() -> QtEventLoop:
    app = QApplication.instance() or QApplication([])
    return QtEventLoop(app)


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], QtEventLoop]]:
    return {"qasync": _qt_loop}


@pytest.fixture(autouse=True)
def private_settings(tmp_path: Path) -> None:
    """Each test gets its own settings file, never the user's."""
    QSettings.setPath(
        QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path / "cfg")
    )


@pytest.fixture(autouse=True)
def private_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The backend the app starts, and its sessions' shells, get a home of their own: the
    machine's startup files are not part of any test (see tests/server.py)."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))

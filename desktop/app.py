"""Start the desktop app: the window at once, the backend behind it, and a clean quit.

The backend is the app's child (``BackendSupervisor``), unless ``--connect`` names one that is
already running, or the data dir's ``server.json`` names a live one (then the app attaches to it
instead of failing on the data dir's lock).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from desktop.api import ApiClient
from desktop.qtloop import make_loop
from desktop.supervisor import (
    PORT_FILE,
    BackendStartError,
    BackendSupervisor,
    SupervisorState,
    default_data_dir,
    running_backend,
)
from desktop.ui.main_window import MainWindow

log = logging.getLogger(__name__)


def app_icon() -> QIcon:
    """SessionDock's own icon (resources/icons), else the theme's terminal icon."""
    here = Path(__file__).resolve().parent
    for resources in (
        Path(getattr(sys, "_MEIPASS", here)) / "resources",  # a pyinstaller bundle
        here.parent / "backend" / "_resources",  # an installed wheel (pyproject's force-include)
        here.parent / "resources",  # a source checkout
    ):
        pngs = sorted((resources / "icons").glob("sessiondock-*.png"))
        if pngs:
            icon = QIcon()
            for png in pngs:
                icon.addFile(str(png))
            return icon
    return QIcon.fromTheme("utilities-terminal")


class StartupErrorDialog(QDialog):
    """The backend did not start: what it said, and Retry or Quit."""

    def __init__(self, error: BackendStartError, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("SessionDock: the backend did not start")
        self.message = QLabel(error.message)
        self.message.setTextFormat(Qt.TextFormat.PlainText)  # the backend's words, not HTML
        self.message.setWordWrap(True)
        self.details = QPlainTextEdit("\n".join(error.stderr_tail) or "(it wrote nothing)")
        self.details.setReadOnly(True)
        self.buttons = QDialogButtonBox()
        self.retry_button = self.buttons.addButton("Retry", QDialogButtonBox.ButtonRole.AcceptRole)
        self.quit_button = self.buttons.addButton("Quit", QDialogButtonBox.ButtonRole.RejectRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        layout.addWidget(QLabel("Its last words:"))
        layout.addWidget(self.details)
        layout.addWidget(self.buttons)
        self.resize(640, 360)


class DesktopApp(QObject):
    """Owns the window, the API client and the backend for the app's whole life."""

    startup_failed = Signal(object)  # the StartupErrorDialog now shown
    ready = Signal()

    def __init__(
        self,
        data_dir: Path,
        *,
        connect: tuple[str, str] | None = None,
        supervisor_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.data_dir = data_dir
        self.connect_to = connect
        self.supervisor_options = supervisor_options or {}
        self.supervisor: BackendSupervisor | None = None
        self.api = ApiClient("http://127.0.0.1:0", "")
        self.window = MainWindow(self.api, token="")
        self.error_dialog: StartupErrorDialog | None = None
        self._quit = asyncio.Event()
        app = QApplication.instance()
        assert isinstance(app, QApplication)
        # Closing the window ends run(), which stops everything in order; Qt quitting on its
        # own would stop the asyncio loop under our feet.
        app.setQuitOnLastWindowClosed(False)
        self.window.closed.connect(self._quit.set)

    async def run(self) -> int:
        """Show the window, bring the backend up, run until the window closes."""
        self.window.show()
        try:
            if not await self._bring_up():
                return 1
            self.ready.emit()
            await self._quit.wait()
            return 0
        finally:
            await self.close()

    async def _bring_up(self) -> bool:
        if self.connect_to is None and (info := await running_backend(self.data_dir)):
            self.connect_to = str(info["url"]), str(info["token"])
        if self.connect_to is not None:
            # Its sessions are not ours: they go on after the app quits, which asks nothing.
            url, token = self.connect_to
            self.window.set_backend_state(f"attached to {url}")
            self.window.set_endpoint(url, token)
            return True
        if self.supervisor is None:
            self.supervisor = BackendSupervisor(
                self.data_dir,
                on_state=self._on_backend_state,
                port_file=self.data_dir / PORT_FILE,
                **self.supervisor_options,
            )
        while True:
            try:
                await self.supervisor.start()
                # Quitting stops this backend, and with it every session it runs.
                self.window.ask_before_quit = True
                return True
            except BackendStartError as error:
                if not await self._ask_retry(error):
                    return False

    async def _ask_retry(self, error: BackendStartError) -> bool:
        self.window.set_backend_state("did not start")
        dialog = self.error_dialog = StartupErrorDialog(error, self.window)
        answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        dialog.finished.connect(lambda code: _settle(answer, code))
        dialog.open()
        self.startup_failed.emit(dialog)
        try:
            return await answer == QDialog.DialogCode.Accepted
        finally:
            self.error_dialog = None
            dialog.deleteLater()

    def _on_backend_state(self, state: SupervisorState) -> None:
        window = self.window
        if state.kind == "ready" and state.ready is not None:
            window.set_backend_state(f"running at {state.ready.url} (pid {state.ready.pid})")
            window.set_endpoint(state.ready.url, state.ready.token)
        elif state.kind == "restarting":
            window.set_backend_state(
                f"stopped ({state.exit_code}); restarting in {state.retry_in or 0:.0f} s"
            )
        elif state.kind == "failed":
            window.set_backend_state(f"could not restart: {state.message}")
        else:
            window.set_backend_state(state.kind)

    def quit(self) -> None:
        """End ``run()`` as closing the window does, but without asking (the system or a test
        wants the app gone), even while the start-up dialog asks."""
        if self.error_dialog is not None:
            self.error_dialog.reject()
        self.window.close_now()

    async def close(self) -> None:
        """Stream, tasks, client, then the backend: nothing outlives the app, unless the user
        chose to keep the sessions running (the backend is released: the next app attaches)."""
        await self.window.shutdown()
        await self.api.aclose()
        if self.supervisor is None:
            return
        if self.window.keep_backend:
            await self.supervisor.release()
        else:
            await self.supervisor.stop()


def _settle(future: asyncio.Future[int], value: int) -> None:
    if not future.done():
        future.set_result(value)


def show_exception(
    kind: type[BaseException], value: BaseException, tb: TracebackType | None
) -> None:
    """Errors escaping Qt slots are shown, not lost (and fail the tests)."""
    log.error("uncaught error", exc_info=(kind, value, tb))
    app = QApplication.instance()
    if app is not None and not app.closingDown():
        box = QMessageBox(QMessageBox.Icon.Critical, "SessionDock: unexpected error", str(value))
        box.setTextFormat(Qt.TextFormat.PlainText)  # an error's words can quote any data
        box.setDetailedText("".join(traceback.format_exception(kind, value, tb)))
        box.setAttribute(box.WidgetAttribute.WA_DeleteOnClose)  # type: ignore[attr-defined]
        box.open()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sessiondock",
        description="Watch and drive live sessions. `sessiondock serve` runs the backend alone.",
    )
    parser.add_argument("--connect", metavar="URL", help="attach to a running backend")
    parser.add_argument("--token", help="its token (with --connect)")
    parser.add_argument("--data-dir", type=Path, help="the backend's data dir")
    parser.add_argument("--log-level", default="warning")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.connect and not args.token:
        build_parser().error("--connect needs --token")
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper())
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("SessionDock")
    app.setOrganizationName("SessionDock")
    app.setWindowIcon(app_icon())
    sys.excepthook = show_exception
    loop = make_loop(app)
    asyncio.set_event_loop(loop)
    desktop = DesktopApp(
        (args.data_dir or default_data_dir()).expanduser(),
        connect=(args.connect.rstrip("/"), args.token) if args.connect else None,
    )
    # SIGTERM (logout, `kill`, a service manager) quits as closing the window does, so the
    # backend is stopped in order rather than left to notice its closed stdin.
    loop.add_signal_handler(signal.SIGTERM, desktop.quit)
    try:
        code: int = loop.run_until_complete(desktop.run())
        return code
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

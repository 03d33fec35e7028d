"""The asyncio loop on top of Qt's (qasync), with what qasync leaves out."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from PySide6.QtCore import QTimerEvent
from PySide6.QtWidgets import QApplication
from qasync import QEventLoop, _SimpleTimer  # after PySide6: it uses the binding imported first


class _LoopTimer(_SimpleTimer):  # type: ignore[misc]
    """Runs the loop's callbacks (qasync runs them all from Qt timer events) with the loop set
    as running, even when Qt processes events outside ``run_forever``: a nested dialog loop,
    the last ``processEvents`` of ``run_until_complete``, or pytest-qt between test phases.
    Without it, code that asks for the running loop there (httpx, through anyio) fails."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._loop = loop

    def timerEvent(self, event: QTimerEvent) -> None:
        if asyncio.events._get_running_loop() is not None:
            super().timerEvent(event)
            return
        asyncio.events._set_running_loop(self._loop)
        try:
            super().timerEvent(event)
        finally:
            asyncio.events._set_running_loop(None)


class QtEventLoop(QEventLoop):  # type: ignore[misc]
    """qasync's loop, plus the async-generator hooks it does not install.

    Without them an abandoned async generator (say, a broken-off ``aiter_sse()``) is finalized
    outside the loop and warns "async generator ignored GeneratorExit".
    """

    def __init__(self, app: QApplication | None = None) -> None:
        super().__init__(app)
        self._timer = _LoopTimer(self)

    def run_forever(self) -> Any:
        previous = sys.get_asyncgen_hooks()
        sys.set_asyncgen_hooks(
            firstiter=self._asyncgen_firstiter_hook, finalizer=self._asyncgen_finalizer_hook
        )
        try:
            return super().run_forever()
        finally:
            sys.set_asyncgen_hooks(*previous)


def make_loop(app: QApplication) -> QtEventLoop:
    return QtEventLoop(app)

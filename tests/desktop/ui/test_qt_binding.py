"""The Qt binding itself: a known-bad build would crash the app after a few thousand calls."""

from __future__ import annotations

import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QLabel


def test_qt_calls_keep_python_reference_counts() -> None:
    # PySide6-Essentials 6.12.0 on CPython 3.11 lost a reference to None per void call (and to
    # True/False per bool call); None starts with ~5,000, so the app aborted within seconds.
    app = QApplication.instance() or QApplication([])
    assert app is not None
    label, timer = QLabel(), QTimer()
    before = sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)
    for _ in range(2000):
        label.setText("x")
        timer.start(1000)
        timer.stop()
        label.isVisible()
        timer.isActive()
    after = sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)
    assert [a - b for a, b in zip(after, before, strict=True)] == [0, 0, 0]

"""Render resources/icons/sessiondock.svg to the PNG sizes the app and the .desktop file use.

Run after changing the SVG: ``.venv/bin/python packaging/render_icons.py``. Qt draws the SVG
offscreen (QtSvg ships with PySide6-Essentials), so no other tool is needed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ICONS = Path(__file__).resolve().parent.parent / "resources" / "icons"
SIZES = (16, 32, 48, 64, 128, 256)


def render(svg: Path, size: int, target: Path) -> None:
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"cannot read {svg}")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    if not image.save(str(target), "PNG", 9):  # 9: smallest file
        raise SystemExit(f"cannot write {target}")


def main() -> int:
    app = QGuiApplication(sys.argv[:1])
    svg = ICONS / "sessiondock.svg"
    for size in SIZES:
        render(svg, size, ICONS / f"sessiondock-{size}.png")
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Screenshot an X display from outside the app: ``grab_screen.py OUT.png R,G,B``.

Run with the test venv's Python, ``QT_QPA_PLATFORM=xcb`` and ``DISPLAY`` set. Saves the whole
screen and prints, as JSON, how many pixels have exactly the color R,G,B and the box around them,
so a test can tell that a colored block a session printed is on screen.
"""

from __future__ import annotations

import json
import sys

from PySide6.QtGui import QGuiApplication, QImage


def main() -> int:
    out, color = sys.argv[1], tuple(int(c) for c in sys.argv[2].split(","))
    app = QGuiApplication(sys.argv[:1])
    screen = app.primaryScreen()
    image = screen.grabWindow(0).toImage().convertToFormat(QImage.Format.Format_RGB32)
    image.save(out)
    wanted = 0xFF000000 | color[0] << 16 | color[1] << 8 | color[2]
    width = image.width()
    # Format_RGB32 rows are 4-byte aligned, so the pixels are exactly width * height words.
    pixels = memoryview(image.constBits()).cast("I")
    at = [divmod(i, width) for i, pixel in enumerate(pixels) if pixel == wanted]
    ys, xs = [y for y, _ in at], [x for _, x in at]
    found = {
        "count": len(at),
        "left": min(xs, default=-1),
        "right": max(xs, default=-1),
        "top": min(ys, default=-1),
        "bottom": max(ys, default=-1),
    }
    print(json.dumps(found))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Feeding chunks to the desktop renderer and collecting what it shows, for the tests."""

from __future__ import annotations

from desktop.ansi import AnsiRenderer, Line


def render_chunks(chunks: list[str] | tuple[str, ...]) -> tuple[list[Line], Line]:
    """The finished lines of all the chunks, and the partial line at the end."""
    renderer = AnsiRenderer()
    lines: list[Line] = []
    partial: Line = ()
    for chunk in chunks:
        update = renderer.feed(chunk)
        lines.extend(update.finished)
        partial = update.partial
    return lines, partial

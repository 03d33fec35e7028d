"""Terminal output as the lines a person saw: escape sequences removed, overwrites resolved.

A program's output is bytes for a terminal: colours and cursor moves (escape sequences), a
carriage return that sends the cursor back to the start of the line so that the next text
overwrites it (a progress bar), backspaces, erase-to-end-of-line. ``TerminalLines`` follows what
matters of that for one line at a time, so that a progress bar redrawn a hundred times is one
line with its last text, and hands out each line once it ends, with the id of the event it began
in. It is not an emulator (full-screen programs move the cursor across lines and come out
jumbled); it is what search and a plain-text export need, and it keeps nothing but the line
under way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A control sequence (CSI: ESC [ params intermediates final), an OSC or DCS string (to BEL or
# ST), or any other two-character escape. The C1 forms (0x9b, 0x9d) count too.
_ESCAPE = re.compile(
    r"(?:\x1b\[|\x9b)(?P<params>[0-?]*)[ -/]*(?P<final>[@-~])"
    r"|(?:\x1b[\]PX^_]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
)
# What may change the line: the escapes, and the control characters that move within it.
_SPECIAL = re.compile(_ESCAPE.pattern + r"|[\x00-\x08\x0b-\x1f\x7f]|\n")
# Colours and attributes (SGR): nothing for the text.
_COLOURS = re.compile(r"\x1b\[[0-9;:]*m")
# All of that but the newline (and the C1 forms of escapes): text without any is plain lines.
_MOVES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x9b\x9d]")
_MOVE_BYTES = bytes([*range(0x09), *range(0x0B, 0x20), 0x7F])  # the ASCII ones
# A line longer than this is cut into pieces of this size (an endless line stays bounded).
MAX_LINE = 16384
# An escape sequence not finished where a feed ends (a program's write, or the backend's read,
# split it): it is kept for the next feed rather than read as text ("31m" of a colour). Looked
# for this far from the end only: a longer unfinished one is taken as it is.
_UNFINISHED = re.compile(r"\x1b(?:\[[0-?]*[ -/]*|[\]PX^_][^\x07\x1b\x9c]*|[ -/]*)?")
UNFINISHED_CHARS = 256


@dataclass(frozen=True, slots=True)
class Line:
    """A line as it was last seen, and the event it began in."""

    seq: int
    text: str


class TerminalLines:
    """Feeds of one session's output, in order; ``feed`` returns the lines that ended. Text
    goes in a run at a time (the line is a string and a cursor), not a character at a time."""

    def __init__(self) -> None:
        self._line = ""
        self._cursor = 0
        self._unfinished = ""  # the start of an escape sequence the last feed ended in
        self.started = 0  # the event the line under way began in (0: none yet)

    @property
    def pending(self) -> bool:
        """Whether a line is under way (text not yet ended by a newline)."""
        return bool(self._line)

    def feed(self, seq: int, text: str) -> list[Line]:
        text = self._clean(text)
        if _has_moves(text):
            return self._moves(seq, text)
        return self._plain(seq, text.split("\n"))

    def feed_text(self, seq: int, text: str) -> str:
        """What ``feed`` ends, as text, each line with its newline: for exports, which need no
        ``Line`` for each line (plain output goes through at the speed of ``str.split``)."""
        text = self._clean(text)
        if _has_moves(text):
            return "".join(line.text + "\n" for line in self._moves(seq, text))
        pieces = text.split("\n")
        if len(pieces) < 3 or max(map(len, pieces)) >= MAX_LINE:
            return "".join(line.text + "\n" for line in self._plain(seq, pieces))
        ended: list[Line] = []
        self._write(seq, pieces[0], ended)
        ended.append(self._end(seq))
        head = "".join(line.text + "\n" for line in ended)
        body = "\n".join(piece.rstrip() for piece in pieces[1:-1])
        self._write(seq, pieces[-1], ended)  # shorter than a line can be: it ends nothing
        return f"{head}{body}\n"

    def _clean(self, text: str) -> str:
        """Without what never changes a line's text: colours, and a carriage return that a
        newline follows (a terminal's line end); without them most output is plain lines. An
        escape sequence the text ends in before its end waits for the next feed."""
        if self._unfinished:
            text, self._unfinished = self._unfinished + text, ""
        last = text.rfind("\x1b", max(0, len(text) - UNFINISHED_CHARS))
        if last >= 0 and _UNFINISHED.fullmatch(text, last):
            text, self._unfinished = text[:last], text[last:]
        return _COLOURS.sub("", text).replace("\r\n", "\n")

    def _moves(self, seq: int, text: str) -> list[Line]:
        """Text with carriage returns, backspaces or escapes that move: a run at a time."""
        ended: list[Line] = []
        position = 0
        for match in _SPECIAL.finditer(text):
            if match.start() > position:
                self._write(seq, text[position : match.start()], ended)
            position = match.end()
            token = match.group()
            if token == "\n":
                ended.append(self._end(seq))
            elif token == "\r":
                self._cursor = 0
            elif token in ("\b", "\x7f"):
                self._cursor = max(0, self._cursor - 1)
            elif match.group("final") is not None:
                self._control(match.group("params"), match.group("final"))
        if position < len(text):
            self._write(seq, text[position:], ended)
        return ended

    def _plain(self, seq: int, pieces: list[str]) -> list[Line]:
        """Text with nothing in it but newlines to act on (most output), split at them: whole
        lines at once."""
        ended: list[Line] = []
        self._write(seq, pieces[0], ended)
        if len(pieces) == 1:
            return ended
        ended.append(self._end(seq))
        for piece in pieces[1:-1]:
            if len(piece) < MAX_LINE:
                ended.append(Line(seq, piece.rstrip()))
            else:
                self._write(seq, piece, ended)
                ended.append(self._end(seq))
        self._write(seq, pieces[-1], ended)
        return ended

    def finish(self, seq: int) -> list[Line]:
        """The session ended: the line under way ends with it (if it holds anything); an
        unfinished escape sequence never will."""
        self._unfinished = ""
        return [self._end(seq)] if self._line else []

    def _write(self, seq: int, text: str, ended: list[Line]) -> None:
        while text:
            if not self._line:
                self.started = seq
            line, cursor = self._line, self._cursor
            if cursor >= len(line):
                line = line + " " * (cursor - len(line)) + text
            else:
                line = line[:cursor] + text + line[cursor + len(text) :]
            self._cursor = cursor + len(text)
            text = ""
            if len(line) >= MAX_LINE:  # an endless line is cut into lines of MAX_LINE
                self._line, text = line[:MAX_LINE], line[MAX_LINE:]
                ended.append(self._end(seq))
            else:
                self._line = line

    def _control(self, params: str, final: str) -> None:
        """The sequences that act within the line: erase, and moves along it."""
        number = int(params) if params.isdigit() else 0
        cursor = self._cursor
        if final == "K":  # erase in line: 0 to its end, 1 to its start, 2 all of it
            if number == 0:
                self._line = self._line[:cursor]
            elif number == 1:
                self._line = " " * min(cursor, len(self._line)) + self._line[cursor:]
            elif number == 2:
                self._line = ""
        elif final == "G":  # to column n (1-based)
            self._cursor = max(0, number - 1)
        elif final == "C":  # forward n
            self._cursor += max(1, number)
        elif final == "D":  # back n
            self._cursor = max(0, cursor - max(1, number))

    def _end(self, seq: int) -> Line:
        line = Line(self.started or seq, self._line.rstrip())
        self._line = ""
        self._cursor = 0
        self.started = 0
        return line


def _has_moves(text: str) -> bool:
    """Whether ``text`` holds any of ``_MOVES``. ASCII text (most output) is looked at as bytes:
    deleting the control bytes runs at five times a regular expression's pace."""
    if text.isascii():
        raw = text.encode()
        return len(raw.translate(None, _MOVE_BYTES)) != len(raw)
    return _MOVES.search(text) is not None


def strip_escapes(text: str) -> str:
    """``text`` without escape sequences (colours, cursor moves), its lines otherwise as they
    are: for texts that are not a terminal's (a tool's result, stderr)."""
    return _ESCAPE.sub("", text)

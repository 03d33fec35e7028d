"""The output of one session: a QTextDocument fed by the ANSI renderer, shown in a read-only view.

Each session keeps its own ``SessionDocument`` (text, renderer state, last event id), so switching
back to a session shows it at once and its stream resumes from where it stopped. An agent
session's document is fed rows by the agent renderer instead; a row with a fold (an edit's diff,
a thinking block, a tool's result) carries a link that expands it inline, below the row, and
collapses it again.
"""

from __future__ import annotations

import re
from collections import OrderedDict

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QFontMetrics,
    QMouseEvent,
    QPalette,
    QResizeEvent,
    QTextBlock,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextFormat,
)
from PySide6.QtWidgets import (
    QPlainTextDocumentLayout,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from desktop.agent import (
    FOLD_LINKS,
    GAP,
    RESULT_BODY_INDENT,
    AgentRenderer,
    Fold,
    FoldKind,
    Role,
    Row,
    fold_rows,
)
from desktop.ansi import AnsiRenderer, Line, Style, Update, palette_rgb
from desktop.sse_client import Event
from desktop.ui.find_bar import NOT_FOUND, FindBar

DEFAULT_SCROLLBACK = 100_000
# A block property: the id of the stored event whose rows start at that block (a search hit
# opens there).
EVENT_PROPERTY = QTextFormat.Property.UserProperty + 1
TOGGLE_DIFF = "sessiondock:toggle-diff"  # the anchor of a "show diff" (or any fold's) link
# Characters of folds (diffs, thinking, tool results) kept for expanding, for all the documents of
# a window together (the newest are kept): the backend cuts each diff at 64 KiB, the renderer each
# result at 20,000 characters, and a long conversation makes thousands of them.
DIFF_BUDGET_CHARS = 16 * 1024 * 1024
# What an expanded fold shows once the budget took its text.
_KEPT_ELSEWHERE = "is no longer kept in memory; the session's stored history has it"
GONE: dict[FoldKind, Row] = {
    "diff": Row(((f"(this diff {_KEPT_ELSEWHERE})", "muted"),), indent=6),
    "thinking": Row(((f"(this thinking {_KEPT_ELSEWHERE})", "muted"),), indent=2),
    "result": Row(((f"(this output {_KEPT_ELSEWHERE})", "muted"),), indent=RESULT_BODY_INDENT),
}
DIFF_GONE = " " * GONE["diff"].indent + GONE["diff"].spans[0][0]
# What QTextCursor.insertText turns into a new block. A row is one block: a stray separator in
# its text would leave rows behind when a diff collapses, and split a terminal's partial line.
_BLOCK_SEPARATORS = re.compile("\r\n|[\n\r\u2029\ufdd0\ufdd1]")

RED = QColor(218, 54, 51)
GREEN = QColor(46, 160, 67)
AMBER = QColor(201, 142, 20)
BLUE = QColor(56, 132, 244)
PURPLE = QColor(150, 100, 230)
CYAN = QColor(20, 150, 170)


def mix(color: QColor, other: QColor, amount: float) -> QColor:
    """``color`` moved ``amount`` (0..1) of the way to ``other``: dim text that suits the theme."""
    return QColor(
        round(color.red() + (other.red() - color.red()) * amount),
        round(color.green() + (other.green() - color.green()) * amount),
        round(color.blue() + (other.blue() - color.blue()) * amount),
    )


class Formats:
    """QTextCharFormats for renderer styles, made once per style and theme."""

    def __init__(self, palette: QPalette, font: QFont) -> None:
        self.font = font
        self.foreground = palette.color(QPalette.ColorRole.Text)
        self.background = palette.color(QPalette.ColorRole.Base)
        self._cache: dict[Style, QTextCharFormat] = {}
        self._roles: dict[Role, QTextCharFormat] = {}
        # Prose reads better in the UI's own font, at the size chosen for the output.
        self.prose_family = QFontDatabase.systemFont(QFontDatabase.SystemFont.GeneralFont).family()

    def _color(self, value: int | tuple[int, int, int]) -> QColor:
        red, green, blue = palette_rgb(value) if isinstance(value, int) else value
        return QColor(red, green, blue)

    def get(self, style: Style) -> QTextCharFormat:
        fmt = self._cache.get(style)
        if fmt is not None:
            return fmt
        fmt = QTextCharFormat()
        fg = self._color(style.fg) if style.fg is not None else None
        bg = self._color(style.bg) if style.bg is not None else None
        if style.bold and isinstance(style.fg, int) and style.fg < 8:
            fg = self._color(style.fg + 8)  # bold bright, as xterm does
        if style.inverse:
            fg, bg = (bg or self.background), (fg or self.foreground)
        if fg is not None:
            if style.dim:
                fg = fg.darker(150)
            fmt.setForeground(fg)
        if bg is not None:
            fmt.setBackground(bg)
        if style.bold:
            fmt.setFontWeight(QFont.Weight.Bold)
        fmt.setFontItalic(style.italic)
        fmt.setFontUnderline(style.underline)
        self._cache[style] = fmt
        return fmt

    def role(self, role: Role) -> QTextCharFormat:
        """The format of an agent row's span (see desktop.agent)."""
        fmt = self._roles.get(role)
        if fmt is None:
            fmt = self._roles[role] = self._make_role(role)
        return fmt

    def _make_role(self, role: Role) -> QTextCharFormat:
        fmt = QTextCharFormat()
        text, base = self.foreground, self.background
        dim = mix(text, base, 0.45)
        colors: dict[str, QColor] = {
            "thinking": dim, "muted": dim, "result": dim, "turn": dim, "diff-hunk": dim,
            "diff-context": mix(text, base, 0.2),
            "stderr": mix(RED, base, 0.3), "result-error": RED, "error": RED, "turn-error": RED,
            "diff-del": RED, "diff-add": GREEN, "turn-interrupted": AMBER,
            "op-read": BLUE, "op-write": GREEN, "op-edit": AMBER, "op-delete": RED,
            "op-bash": PURPLE, "op-other": mix(text, base, 0.3), "toggle": CYAN,
        }  # fmt: skip
        if role in colors:
            fmt.setForeground(colors[role])
        if role in ("prose", "bold", "heading", "thinking", "prompt"):
            fmt.setFontFamilies([self.prose_family])
        if role in ("bold", "heading", "prompt", "diff-file") or role.startswith("op-"):
            fmt.setFontWeight(QFont.Weight.Bold)
        if role in ("thinking", "turn", "turn-interrupted"):
            fmt.setFontItalic(True)
        if role == "toggle":
            fmt.setAnchor(True)
            fmt.setAnchorHref(TOGGLE_DIFF)
            fmt.setFontUnderline(True)
        return fmt


def single_block(text: str) -> str:
    """``text`` without the characters Qt would start a new block at: trailing carriage
    returns (of CRLF lines) go, the other line breaks (a CRLF as one) and paragraph or frame
    separators become spaces. Rows are split at line breaks before this, where they should be;
    what is left (an error message, a tool's name) reads as one line."""
    if _BLOCK_SEPARATORS.search(text) is None:
        return text
    return _BLOCK_SEPARATORS.sub(" ", text.rstrip("\r"))


def utf16_length(text: str) -> int:
    """How long ``text`` is in Qt's units (a QTextCursor's positions, a block's length)."""
    return len(text.encode("utf-16-le")) // 2


class DiffStore:
    """The folds (diffs, thinking, tool results) behind the links of a window's documents, by
    number, under one budget of characters. Past it, the folds of the documents not on screen go
    first (those shown least recently first, each one's oldest first), the shown document's
    oldest last."""

    def __init__(self, budget_chars: int = DIFF_BUDGET_CHARS) -> None:
        self.budget_chars = budget_chars
        # Each owner's diffs, oldest first; owners least recently shown (or made) first.
        self._owners: OrderedDict[int, OrderedDict[int, Fold]] = OrderedDict()
        self._owner_of: dict[int, int] = {}
        self._shown: int | None = None
        self._chars = 0
        self._next = 0
        self._last_owner = 0

    @property
    def chars(self) -> int:
        """Characters of diffs kept, all documents together."""
        return self._chars

    def new_owner(self) -> int:
        """A key for one document's diffs, to ``release`` them together."""
        self._last_owner += 1
        self._owners[self._last_owner] = OrderedDict()
        return self._last_owner

    def show(self, owner: int | None) -> None:
        """The document of ``owner`` is now the one on screen (None: no document is)."""
        self._shown = owner
        if owner is not None and owner in self._owners:
            self._owners.move_to_end(owner)

    def keep(self, owner: int, fold: Fold) -> int:
        """Keep a fold; its number (numbers are never reused)."""
        number = self._next
        self._next += 1
        self._owners.setdefault(owner, OrderedDict())[number] = fold
        self._owner_of[number] = owner
        self._chars += len(fold.text)
        if self._chars > self.budget_chars:
            self._make_room(keeping=number)
        return number

    def _make_room(self, keeping: int) -> None:
        shown = self._owners.get(self._shown) if self._shown is not None else None
        others = [diffs for o, diffs in self._owners.items() if o != self._shown]
        for diffs in [*others, *([shown] if shown is not None else [])]:
            while diffs and self._chars > self.budget_chars:
                number = next(iter(diffs))
                if number == keeping:  # the newest diff stays, whatever its size
                    break
                self._chars -= len(diffs.pop(number).text)
                del self._owner_of[number]
            if self._chars <= self.budget_chars:
                return

    def get(self, number: int) -> Fold | None:
        owner = self._owner_of.get(number)
        return None if owner is None else self._owners[owner][number]

    def release(self, owner: int) -> None:
        """Drop the diffs of a document that is gone."""
        for number, fold in self._owners.pop(owner, OrderedDict()).items():
            self._chars -= len(fold.text)
            del self._owner_of[number]
        if owner == self._shown:
            self._shown = None


class SessionDocument:
    """One session's text with its renderer; the document's last block is the partial line.

    ``diffs`` is shared by the documents of a window (each gets its own store otherwise)."""

    def __init__(
        self,
        formats: Formats,
        scrollback: int = DEFAULT_SCROLLBACK,
        diffs: DiffStore | None = None,
    ) -> None:
        self.document = QTextDocument()
        self.document.setDocumentLayout(QPlainTextDocumentLayout(self.document))
        self.document.setDefaultFont(formats.font)
        self.document.setMaximumBlockCount(scrollback)
        self.document.setUndoRedoEnabled(False)
        self.renderer = AnsiRenderer()
        self.agent_renderer = AgentRenderer()
        self.formats = formats
        self.last_event_id: int | None = None
        self.scrollback = scrollback
        # Folds behind "show diff" (and other) links, by number in the store; a link's block
        # has user state 2n and the rows of its expanded fold 2n + 1.
        self.diffs = diffs if diffs is not None else DiffStore()
        self.diff_owner = self.diffs.new_owner()
        # The expanded diffs, by their link's state: a cursor at the link and how many rows
        # they show. Those rows do not count against the scrollback, so that expanding a diff
        # never trims the top of a full document, its own link included.
        self._expanded: dict[int, tuple[QTextCursor, int]] = {}
        # The text Claude is writing (``delta`` events), drawn at the end until its message
        # lands: where it starts, which message it is, and its text so far.
        self._stream_at: QTextCursor | None = None
        self._stream_message: str | None = None
        self._stream_text = ""

    def set_scrollback(self, lines: int) -> None:
        self.scrollback = lines
        self._apply_limit()
        if self._expanded:
            self._forget_trimmed()

    def release(self) -> None:
        """The document is dropped: its diffs free their share of the window's budget."""
        self.diffs.release(self.diff_owner)

    def _apply_limit(self) -> None:
        extra = sum(rows for _, rows in self._expanded.values())
        self.document.setMaximumBlockCount(self.scrollback + extra)

    def _forget_trimmed(self) -> None:
        """Expanded diffs whose link went with the oldest rows no longer earn room; their
        orphaned rows, now at the top, go as the limit comes down, which may take the next
        expanded diff's link with them: until the room counts only links still present."""
        while gone := [
            state
            for state, (cursor, _) in self._expanded.items()
            if cursor.block().userState() != state
        ]:
            for state in gone:
                del self._expanded[state]
            self._apply_limit()

    def append_text(self, text: str) -> None:
        """Feed program output (ANSI included) to the document."""
        self.apply(self.renderer.feed(text))

    def append_notice(self, text: str) -> None:
        """A line of our own (a trim notice, an exit status), on a line of its own."""
        shown = self.renderer.feed("").partial
        notice: Line = ((text, Style(fg=8, italic=True)),)
        self.apply(Update(finished=[*([shown] if shown else []), notice], partial=()))
        self.renderer.reset()

    def apply(self, update: Update) -> None:
        streamed = self._stream_message is not None
        if streamed:  # the streamed text stays the last thing shown
            self._erase_stream()
        self._apply(update)
        if streamed:
            self._draw_stream(self._stream_text)

    def _apply(self, update: Update) -> None:
        cursor = QTextCursor(self.document)
        cursor.beginEditBlock()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.movePosition(QTextCursor.MoveOperation.StartOfBlock, QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()  # the partial line as shown so far
        for line in update.finished:
            self._insert(cursor, line)
            cursor.insertBlock()
        self._insert(cursor, update.partial)
        cursor.endEditBlock()
        if self._expanded:
            self._forget_trimmed()

    def _insert(self, cursor: QTextCursor, line: Line) -> None:
        for text, style in line:
            cursor.insertText(single_block(text), self.formats.get(style))

    def append_agent(self, events: list[Event]) -> None:
        """Feed an agent session's stored events to the document. The streamed text stays the
        last thing shown until its message lands (or the turn ends)."""
        streaming = self._stream_message is not None
        if streaming:
            self._erase_stream()
            for event in events:
                data = event.data
                if event.type == "output" and data.get("type") == "assistant":
                    content = str(data.get("content") or "")
                    text = self._stream_text
                    # The message whose deltas these are (seen from its start, or joined in
                    # the middle of it), not the one before it landing late.
                    if text in content or content in text:
                        self._forget_stream()
                elif event.type == "status" and data.get("turn"):
                    self._forget_stream()
        rows: list[Row] = []
        starts: dict[int, int] = {}  # row index -> the stored event whose rows start there
        for event in events:
            made = self.agent_renderer.render([(event.type, event.data)])
            if made and event.id is not None:
                starts[len(rows)] = event.id
            rows += made
        if rows:
            self.append_rows(rows, starts)
        if self._stream_message is not None:
            self._draw_stream(self._stream_text)

    def stream_delta(self, message_id: str, text: str) -> None:
        """A piece of the text Claude is writing (a ``delta`` event): shown at the end."""
        if message_id != self._stream_message:
            self._erase_stream()
            self._forget_stream()
            self._stream_message = message_id
        self._stream_text += text
        self._draw_stream(text)

    @property
    def streaming_text(self) -> str | None:
        return self._stream_text if self._stream_message is not None else None

    def _draw_stream(self, text: str) -> None:
        cursor = QTextCursor(self.document)
        cursor.movePosition(QTextCursor.MoveOperation.End)
        if self._stream_at is None:
            self._stream_at = QTextCursor(cursor)
            # It marks where the streamed text starts: text inserted there goes after it.
            self._stream_at.setKeepPositionOnInsert(True)
        cursor.insertText(text, self.formats.role("prose"))

    def _erase_stream(self) -> None:
        if self._stream_at is None:
            return
        cursor = QTextCursor(self.document)
        cursor.setPosition(self._stream_at.position())  # (its anchor moved with the text)
        cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()
        self._stream_at = None

    def _forget_stream(self) -> None:
        self._stream_message = None
        self._stream_text = ""

    def append_rows(self, rows: list[Row], starts: dict[int, int] | None = None) -> None:
        """Append rows in one edit; a row with a fold keeps it for its link; the first row of
        each event in ``starts`` (row index -> event id) carries the event's id."""
        cursor = QTextCursor(self.document)
        cursor.beginEditBlock()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        if cursor.block().length() > 1:  # a partial terminal line: agent rows start below it
            cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())
        for index, row in enumerate(rows):
            if starts and index in starts:
                marked = QTextBlockFormat()
                marked.setProperty(EVENT_PROPERTY, starts[index])
                cursor.setBlockFormat(marked)
            self._insert_row(cursor, row)
            if row.fold is not None:
                number = self.diffs.keep(self.diff_owner, row.fold)
                cursor.block().setUserState(2 * number)
            cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())
            cursor.block().setUserState(-1)
        cursor.endEditBlock()
        if self._expanded:
            self._forget_trimmed()

    def _insert_row(self, cursor: QTextCursor, row: Row) -> None:
        if row.indent and any(text for text, _ in row.spans):  # blank rows stay empty
            cursor.insertText(" " * row.indent, self.formats.role("plain"))
        for text, role in row.spans:
            cursor.insertText(single_block(text), self.formats.role(role))
        if row.fold is not None:
            cursor.insertText(GAP, self.formats.role("plain"))
            cursor.insertText(FOLD_LINKS[row.fold.kind][0], self.formats.role("toggle"))

    def diff_links(self) -> list[QTextBlock]:
        """The blocks that hold a fold's link ("show diff", "hide diff"…), top to bottom."""
        blocks = []
        block = self.document.begin()
        while block.isValid():
            if block.userState() >= 0 and block.userState() % 2 == 0:
                blocks.append(block)
            block = block.next()
        return blocks

    def is_expanded(self, block: QTextBlock) -> bool:
        following = block.next()
        return following.isValid() and following.userState() == block.userState() + 1

    def toggle_diff(self, block: QTextBlock) -> bool:
        """Expand the fold (a diff…) under a link's block, or collapse it; False if it has no
        link."""
        state = block.userState()
        if state < 0 or state % 2:
            return False
        text = block.text()
        kind: FoldKind = "diff"
        for candidate, links in FOLD_LINKS.items():
            if text.endswith(links):
                kind = candidate
        closed, opened = FOLD_LINKS[kind]
        if self.is_expanded(block):
            self._collapse(block, state)
            label, old = closed, opened
        else:
            self._expand(block, state, kind)
            label, old = opened, closed
        if text.endswith(old):
            # The link ends the block. Qt counts positions in UTF-16 units, so an emoji earlier
            # in the row would shift a position counted in Python's characters.
            end = block.position() + block.length() - 1
            cursor = QTextCursor(self.document)
            cursor.setPosition(end - utf16_length(old))
            cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
            cursor.insertText(label, self.formats.role("toggle"))
        return True

    def _expand(self, block: QTextBlock, state: int, kind: FoldKind) -> None:
        kept = self.diffs.get(state // 2)
        rows = fold_rows(kept) if kept is not None else [GONE[kind]]
        # Room first, so that the edit trims nothing at its end.
        self._expanded[state] = (QTextCursor(block), len(rows))
        self._apply_limit()
        cursor = QTextCursor(self.document)
        cursor.beginEditBlock()
        cursor.setPosition(block.position() + block.length() - 1)
        for row in rows:
            # The new block comes after the link's, which keeps its state.
            cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())
            self._insert_row(cursor, row)
            cursor.block().setUserState(state + 1)
        cursor.endEditBlock()

    def _collapse(self, block: QTextBlock, state: int) -> None:
        last = block.next()
        while last.next().isValid() and last.next().userState() == state + 1:
            last = last.next()
        cursor = QTextCursor(self.document)
        cursor.beginEditBlock()
        # Removing whole blocks from the first diff row up to the next row's start leaves the
        # link's block (and its state) as it was.
        cursor.setPosition(block.next().position())
        after = last.next()
        if after.isValid():
            cursor.setPosition(after.position(), QTextCursor.MoveMode.KeepAnchor)
        else:
            cursor.setPosition(block.position() + block.length() - 1)
            cursor.setPosition(last.position() + last.length() - 1, QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()
        block.setUserState(state)
        cursor.endEditBlock()
        self._expanded.pop(state, None)
        self._apply_limit()

    def plain_text(self) -> str:
        return self.document.toPlainText()

    def event_block(self, event_id: int) -> QTextBlock | None:
        """The first block of a stored event's rows: its own, else those of the last event
        before it that showed any (None if none is in the document)."""
        block = self.document.lastBlock()
        while block.isValid():
            marked = block.blockFormat().property(EVENT_PROPERTY)
            if isinstance(marked, int) and marked <= event_id:
                return block
            block = block.previous()
        return None

    def find_from(self, block: QTextBlock, terms: list[str]) -> QTextCursor | None:
        """The first of ``terms`` (case aside) at or after ``block``, selected."""
        start = QTextCursor(block)
        found: QTextCursor | None = None
        for term in terms:
            cursor = self.document.find(term, start)
            if not cursor.isNull() and (found is None or cursor.position() < found.position()):
                found = cursor
        return found


def find_in(view: QPlainTextEdit, text: str, backwards: bool) -> bool:
    """Select the next ``text`` in ``view`` (wrapping around); whether there is one."""
    flags = QTextDocument.FindFlag.FindBackward if backwards else QTextDocument.FindFlag(0)
    found = view.find(text, flags)
    if not found:  # wrap around
        cursor = view.textCursor()
        cursor.movePosition(
            QTextCursor.MoveOperation.End if backwards else QTextCursor.MoveOperation.Start
        )
        view.setTextCursor(cursor)
        found = view.find(text, flags)
    return found


class OutputView(QWidget):
    """A read-only terminal-like view that follows the tail unless the user scrolled up."""

    resized = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.text = QPlainTextEdit(readOnly=True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.text.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self.text.setUndoRedoEnabled(False)
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.formats = Formats(self.text.palette(), font)
        self.find_bar = FindBar(
            lambda text, backwards: None if find_in(self.text, text, backwards) else NOT_FOUND,
            "Find in output",
            self,
        )
        self.find_bar.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.text)
        layout.addWidget(self.find_bar)
        self.text.viewport().installEventFilter(self)
        self.text.viewport().setMouseTracking(True)
        self.diffs = DiffStore()  # one budget for the diffs of every document shown here
        self._empty = SessionDocument(self.formats)
        self.current: SessionDocument | None = None
        self.show_document(None)

    def new_document(self, scrollback: int = DEFAULT_SCROLLBACK) -> SessionDocument:
        return SessionDocument(self.formats, scrollback, self.diffs)

    def show_document(self, document: SessionDocument | None) -> None:
        self.current = document
        self.diffs.show(None if document is None else document.diff_owner)
        self.text.setDocument((document or self._empty).document)
        self.text.setFont(self.formats.font)
        self.scroll_to_end()

    def at_end(self) -> bool:
        bar = self.text.verticalScrollBar()
        return bar.value() >= bar.maximum() - 2

    def reveal(self, event_id: int | None, terms: list[str]) -> bool:
        """A search hit on screen: in a conversation, the words in the rows of event
        ``event_id``; in a program's lines (no event ids), their last match. The words as
        typed are looked for first, then each word, the longest first. The match is selected
        and centred (the view stops following the end). Whether it was found."""
        document = self.current
        if document is None or not terms:
            return False
        wanted = list(dict.fromkeys([" ".join(terms), *sorted(terms, key=len, reverse=True)]))
        block = document.event_block(event_id) if event_id is not None else None
        cursor: QTextCursor | None = None
        for text in wanted:
            if block is not None:
                cursor = document.find_from(block, [text])
            else:
                end = QTextCursor(document.document)
                end.movePosition(QTextCursor.MoveOperation.End)
                found = document.document.find(text, end, QTextDocument.FindFlag.FindBackward)
                cursor = None if found.isNull() else found
            if cursor is not None:
                break
        if cursor is None:
            return False
        self.text.setTextCursor(cursor)
        self.text.centerCursor()
        return True

    def scroll_to_end(self) -> None:
        bar = self.text.verticalScrollBar()
        bar.setValue(bar.maximum())

    def append(self, document: SessionDocument, text: str) -> None:
        """Add output to a session's document, keeping the view at the tail if it was there."""
        following = document is self.current and self.at_end()
        document.append_text(text)
        if following:
            self.scroll_to_end()

    def append_agent(self, document: SessionDocument, events: list[Event]) -> None:
        """Add an agent session's events to its document, following the tail as ``append``."""
        following = document is self.current and self.at_end()
        document.append_agent(events)
        if following:
            self.scroll_to_end()

    def stream_delta(self, document: SessionDocument, message_id: str, text: str) -> None:
        """Add a piece of the text Claude is writing, following the tail as ``append``."""
        following = document is self.current and self.at_end()
        document.stream_delta(message_id, text)
        if following:
            self.scroll_to_end()

    def toggle_diff_at(self, pos: QPoint) -> bool:
        """Expand or collapse the diff whose link is at ``pos`` (viewport coordinates)."""
        if self.current is None or self.text.anchorAt(pos) != TOGGLE_DIFF:
            return False
        return self.current.toggle_diff(self.text.cursorForPosition(pos).block())

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.text.viewport() and isinstance(event, QMouseEvent):
            pos = event.position().toPoint()
            if event.type() == QEvent.Type.MouseMove and not event.buttons():
                on_link = self.text.anchorAt(pos) == TOGGLE_DIFF
                shape = Qt.CursorShape.PointingHandCursor if on_link else Qt.CursorShape.IBeamCursor
                self.text.viewport().setCursor(shape)
            elif (
                event.type() == QEvent.Type.MouseButtonRelease
                and event.button() == Qt.MouseButton.LeftButton
                and not self.text.textCursor().hasSelection()  # not the end of a drag
            ):
                self.toggle_diff_at(pos)  # the text edit still sees the release, to end its click
        return super().eventFilter(watched, event)

    def set_font(self, font: QFont) -> None:
        self.formats = Formats(self.text.palette(), font)
        self.text.setFont(font)
        self.resized.emit()

    def terminal_size(self) -> tuple[int, int]:
        """How many columns and rows of the font fit in the view (what a PTY should say)."""
        metrics = QFontMetrics(self.formats.font)
        viewport = self.text.viewport().size()
        cols = viewport.width() // max(1, metrics.horizontalAdvance("M"))
        rows = viewport.height() // max(1, metrics.lineSpacing())
        return max(20, min(cols, 1000)), max(5, min(rows, 1000))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.resized.emit()

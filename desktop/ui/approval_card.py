"""The open permission requests of the Claude session on screen, as cards at the foot of its
conversation (the conversation itself shows each request, and how it ended, as rows).

A card shows what Claude wants to do (a command, an edit as a diff, a path, its questions, its
plan as Markdown) and the answers: Allow, Deny with a message, the CLI's "always allow"
suggestions; an answer to each question; Approve or Keep planning. Keys, when a card has the
focus (it takes it when it comes, unless a prompt is being typed): Y allows (answers,
approves), A allows and keeps the first suggestion, N denies; Enter in the message box denies
with it. The same as the web page's cards (resources/web/approval.js).
"""

from __future__ import annotations

import html
import re
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFontDatabase,
    QKeyEvent,
    QPalette,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
)
from PySide6.QtWidgets import (
    QAbstractButton,
    QButtonGroup,
    QCheckBox,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from desktop.approval import answers, describe, suggestion_label

DECLINED = "The user declined to answer."
BODY_LINES = 12  # a body taller than this scrolls


def _label(text: str, *, bold: bool = False, muted: bool = False) -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)  # data, never markup
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if bold:
        font = label.font()
        font.setBold(True)
        label.setFont(font)
    if muted:  # a palette role, not a style sheet: a card is built in a few milliseconds
        label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
    return label


def _code(text: str, diff: bool = False) -> QPlainTextEdit:
    view = QPlainTextEdit()
    view.setReadOnly(True)
    view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    view.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
    view.setPlainText(text)
    if diff:
        cursor = QTextCursor(view.document())
        block = view.document().begin()
        while block.isValid():
            line = block.text()
            if line[:1] in "+-" and line:
                fmt = QTextCharFormat()
                fmt.setForeground(QColor("#1a7f37" if line[0] == "+" else "#cf222e"))
                cursor.setPosition(block.position())
                cursor.setPosition(block.position() + len(line), QTextCursor.MoveMode.KeepAnchor)
                cursor.setCharFormat(fmt)
            block = block.next()
    lines = min(BODY_LINES, max(1, text.count("\n") + 1))
    height = view.fontMetrics().lineSpacing() * lines + 12
    view.setFixedHeight(height)
    return view


# Markdown images, inline or by reference: ``![alt](path)``, ``![alt][ref]``.
_IMAGE = re.compile(r"!\[([^\]]*)\](\([^)]*\)|\[[^\]]*\])")


class PlanView(QTextBrowser):
    """A plan's Markdown, with nothing loaded: QTextBrowser reads an image's path from disk
    (``![x](/etc/passwd)``, or a FIFO that never ends and freezes the window), and a plan is the
    model's text. Images become their alt text; HTML shows as text (``MarkdownNoHTML``)."""

    def show_plan(self, text: str) -> None:
        plain = _IMAGE.sub(lambda match: f"[image: {match.group(1)}]", text)
        self.document().setMarkdown(plain, QTextDocument.MarkdownFeature.MarkdownNoHTML)


def _mnemonic_free(text: str) -> str:
    """A button's words as they are: a lone ``&`` would make the next letter a shortcut."""
    return text.replace("&", "&&")


class ApprovalCard(QFrame):
    """One open request. ``answered`` carries the answer's body ({behavior, updatedInput?,
    message?, remember?}) for ``POST /permission``."""

    answered = Signal(str, object)  # request id, body

    def __init__(self, data: dict[str, Any], working_dir: str = "") -> None:
        super().__init__()
        self.data = data
        self.request_id = str(data.get("requestId"))
        self.about = describe(data, working_dir)
        self.setObjectName("approval-card")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccessibleName(self.about.title)
        layout = QVBoxLayout(self)
        layout.addWidget(_label(self.about.title, bold=True))
        self.message: QLineEdit | None = None
        self.choices: list[tuple[list[QAbstractButton], QLineEdit]] = []
        suggestions = data.get("suggestions")
        self.suggestions: list[Any] = suggestions if isinstance(suggestions, list) else []
        kind = self.about.kind
        if kind == "command":
            layout.addWidget(_code(f"$ {self.about.text}"))
            if self.about.note:
                layout.addWidget(_label(self.about.note, muted=True))
        elif kind == "diff":
            layout.addWidget(_code(self.about.text, diff=True))
        elif kind == "plan":
            plan = PlanView()
            plan.setOpenLinks(False)  # a plan's links are text here, not places to go
            plan.show_plan(self.about.text)
            plan.setMinimumHeight(120)
            layout.addWidget(plan)
        elif kind == "questions":
            self._questions(layout)
        else:
            layout.addWidget(_code(self.about.text))
        blocked = data.get("blockedPath")
        if isinstance(blocked, str) and blocked:
            layout.addWidget(_label(f"outside the allowed folders: {blocked}", muted=True))
        buttons = QHBoxLayout()
        layout.addLayout(buttons)
        if kind == "questions":
            self.primary = QPushButton("Answer")
            self.primary.clicked.connect(self._answer_questions)
            decline = QPushButton("Decline")
            decline.clicked.connect(lambda: self._send({"behavior": "deny", "message": DECLINED}))
            buttons.addWidget(self.primary)
            buttons.addWidget(decline)
        elif kind == "plan":
            self.primary = QPushButton("Approve")
            self.primary.setToolTip("Y: approve the plan, then accept edits")
            self.primary.clicked.connect(lambda: self.allow())
            keep = QPushButton("Keep planning")
            keep.clicked.connect(self.deny)
            self.message = QLineEdit(placeholderText="What should change in the plan? (optional)")
            buttons.addWidget(self.primary)
            buttons.addWidget(keep)
            buttons.addWidget(self.message, 1)
        else:
            self.primary = QPushButton("Allow")
            self.primary.setToolTip("Y")
            self.primary.clicked.connect(lambda: self.allow())
            buttons.addWidget(self.primary)
            for index, suggestion in enumerate(self.suggestions):
                button = QPushButton(_mnemonic_free(suggestion_label(suggestion)))
                button.setToolTip("A" if index == 0 else "")
                button.clicked.connect(lambda _=False, s=suggestion: self.allow([s]))
                buttons.addWidget(button)
            deny = QPushButton("Deny")
            deny.setToolTip("N")
            deny.clicked.connect(self.deny)
            buttons.addWidget(deny)
            self.message = QLineEdit(placeholderText="Tell Claude what to do instead (optional)")
            buttons.addWidget(self.message, 1)
            layout.addWidget(_label("Y allow · A always · N deny", muted=True))
        self.primary.setDefault(True)
        if self.message is not None:
            self.message.setAccessibleName("why not")
            self.message.returnPressed.connect(self.deny)
        self.error = _label("")
        palette = self.error.palette()
        palette.setColor(QPalette.ColorRole.WindowText, QColor("#cf222e"))
        self.error.setPalette(palette)
        self.error.hide()
        layout.addWidget(self.error)
        self.sending = False

    def _questions(self, layout: QVBoxLayout) -> None:
        raw = self.data.get("input") or {}
        questions = raw.get("questions") if isinstance(raw, dict) else None
        self.questions: list[Any] = questions if isinstance(questions, list) else []
        for question in self.questions:
            if not isinstance(question, dict):
                continue
            header = str(question.get("header") or "")
            box = QGroupBox(
                f"{header}: {question.get('question')}" if header else str(question.get("question"))
            )
            column = QVBoxLayout(box)
            multi = question.get("multiSelect") is True
            group = QButtonGroup(box)
            group.setExclusive(not multi)
            options: list[QAbstractButton] = []
            for option in question.get("options") or []:
                if not isinstance(option, dict):
                    continue
                label = str(option.get("label") or "")
                shown = _mnemonic_free(label)
                button: QAbstractButton = QCheckBox(shown) if multi else QRadioButton(shown)
                button.setProperty("value", label)
                if option.get("description"):
                    description = str(option["description"])
                    button.setToolTip(html.escape(description))  # a tooltip may be read as HTML
                    button.setText(f"{shown} — {_mnemonic_free(description)}")
                group.addButton(button)
                column.addWidget(button)
                options.append(button)
            other = QLineEdit(placeholderText="Other (type your own answer)")
            other.setAccessibleName(f"other answer to: {question.get('question')}")
            column.addWidget(other)
            self.choices.append((options, other))
            layout.addWidget(box)

    # -- answers ------------------------------------------------------------------------------

    def allow(self, remember: list[Any] | None = None) -> None:
        body: dict[str, Any] = {"behavior": "allow"}
        if remember:
            body["remember"] = remember
        self._send(body)

    def deny(self) -> None:
        body: dict[str, Any] = {"behavior": "deny"}
        text = self.message.text().strip() if self.message is not None else ""
        if text:
            body["message"] = text
        self._send(body)

    def _answer_questions(self) -> None:
        chosen = [
            [str(b.property("value")) for b in options if b.isChecked()]
            for options, _ in self.choices
        ]
        typed = [other.text() for _, other in self.choices]
        raw = self.data.get("input")
        updated = {
            **(raw if isinstance(raw, dict) else {}),
            "answers": answers(self.questions, chosen, typed),
        }
        self._send({"behavior": "allow", "updatedInput": updated})

    def _send(self, body: dict[str, Any]) -> None:
        if self.sending:
            return
        self.sending = True
        self.error.hide()
        self.answered.emit(self.request_id, body)

    def failed(self, message: str) -> None:
        """The answer did not go out: say why, and take another."""
        self.sending = False
        self.error.setText(f"Not sent: {message}")
        self.error.show()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        mods = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        key = event.key()
        if mods == Qt.KeyboardModifier.NoModifier:
            if key == Qt.Key.Key_Y:
                self.primary.click()
                return
            if (
                key == Qt.Key.Key_A
                and self.suggestions
                and self.about.kind not in ("questions", "plan")
            ):
                self.allow([self.suggestions[0]])
                return
            if key == Qt.Key.Key_N:
                if self.about.kind == "questions":
                    self._send({"behavior": "deny", "message": DECLINED})
                else:
                    self.deny()
                return
        super().keyPressEvent(event)


class ApprovalPane(QScrollArea):
    """The cards of the session on screen, oldest first; hidden when there are none."""

    answered = Signal(str, str, object)  # session id, request id, body

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        # One style sheet for every card, set once here (a sheet per card costs a restyle each).
        self.setStyleSheet(
            "QFrame#approval-card { border: 1px solid #d4a72c; border-left: 4px solid #d4a72c;"
            " border-radius: 6px; }"
            "QFrame#approval-card:focus { border-color: palette(highlight); }"
        )
        self._inner = QWidget()
        self._layout = QVBoxLayout(self._inner)
        self._layout.setContentsMargins(0, 4, 0, 4)
        self._layout.addStretch(0)
        self.setWidget(self._inner)
        self.session_id: str | None = None
        self.cards: dict[str, ApprovalCard] = {}
        self.hide()

    def show_requests(
        self, session_id: str | None, requests: list[dict[str, Any]], working_dir: str
    ) -> None:
        """Show ``session_id``'s open requests (replacing another session's)."""
        if session_id != self.session_id:
            for card in self.cards.values():
                card.deleteLater()
            self.cards.clear()
            self.session_id = session_id
        wanted = {str(r.get("requestId")): r for r in requests}
        for request_id in [r for r in self.cards if r not in wanted]:
            self.cards.pop(request_id).deleteLater()
        for request_id, data in wanted.items():
            if request_id not in self.cards:
                card = ApprovalCard(data, working_dir)
                card.answered.connect(
                    lambda rid, body, sid=session_id: self.answered.emit(sid, rid, body)
                )
                self.cards[request_id] = card
                self._layout.insertWidget(self._layout.count() - 1, card)
        self.setVisible(bool(self.cards))
        if self.cards:
            top = max(160, self.window().height() // 2) if self.window() else 360
            self.setMaximumHeight(top)
            self.setMinimumHeight(min(top, self._inner.sizeHint().height()))

    def card(self, request_id: str) -> ApprovalCard | None:
        return self.cards.get(request_id)

    def first(self) -> ApprovalCard | None:
        return next(iter(self.cards.values()), None)

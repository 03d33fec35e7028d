"""The desktop's permission cards on their own (offscreen Qt): what they show of a request's
data, which is the model's and the CLI's, never markup or a path to read."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtWidgets import QAbstractButton, QLabel
from pytestqt.qtbot import QtBot

from desktop.ui.approval_card import ApprovalCard, PlanView


def test_a_plan_loads_no_image_from_disk(qtbot: QtBot, tmp_path: Path) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"not for the plan")
    fifo = tmp_path / "never-ends"
    os.mkfifo(fifo)  # reading it would block the window forever
    plan = f"# Plan\n\n![a]({secret})\n\n![b]({fifo})\n\n1. Do it"
    card = ApprovalCard({"requestId": "r1", "tool": "ExitPlanMode", "input": {"plan": plan}})
    qtbot.addWidget(card)
    card.show()
    view = card.findChild(PlanView)
    assert view is not None
    shown = view.toPlainText()
    assert "Do it" in shown and "[image: a]" in shown and "[image: b]" in shown
    # No image in the document: nothing for its layout to load (asking the document for the
    # resource would load it).
    images = []
    block = view.document().begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            if it.fragment().charFormat().isImageFormat():
                images.append(it.fragment().text())
            it += 1
        block = block.next()
    assert images == []


def test_html_in_a_plan_is_text(qtbot: QtBot) -> None:
    plan = "Plan <img src='/etc/hostname'> <b>now</b>"
    card = ApprovalCard({"requestId": "r3", "tool": "ExitPlanMode", "input": {"plan": plan}})
    qtbot.addWidget(card)
    view = card.findChild(PlanView)
    assert view is not None
    assert view.toPlainText() == plan


def test_names_and_suggestions_are_text(qtbot: QtBot) -> None:
    data = {
        "requestId": "r2",
        "tool": "Bash",
        "input": {"command": "a && b", "description": "<b>bold</b>"},
        "suggestions": [
            {"type": "addRules", "rules": [{"toolName": "Bash", "ruleContent": "a && b"}],
             "behavior": "allow", "destination": "session"},
        ],
    }  # fmt: skip
    card = ApprovalCard(data)
    qtbot.addWidget(card)
    labels = [label for label in card.findChildren(QLabel) if label.text() == "<b>bold</b>"]
    assert labels and labels[0].textFormat().name == "PlainText"
    buttons = {b.text() for b in card.findChildren(QAbstractButton)}
    # "&&" is how a button shows one "&" (a lone one would make the next letter a shortcut).
    assert "Always allow Bash(a &&&& b) for this session" in buttons

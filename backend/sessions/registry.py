"""The kinds of session this backend runs. Adding a kind is one module and one line here.

Order matters only for new sessions: the first kind that accepts a request runs it.
"""

from __future__ import annotations

from typing import Final

from backend.runtimes.base import RuntimeKind
from backend.runtimes.conversation import ConversationKind
from backend.runtimes.imported import ImportedKind
from backend.runtimes.pipes import PipesKind
from backend.runtimes.terminal import TerminalKind

KINDS: Final[tuple[type[RuntimeKind], ...]] = (
    TerminalKind,
    PipesKind,
    ConversationKind,
    ImportedKind,
)

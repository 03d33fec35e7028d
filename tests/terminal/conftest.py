from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.server import Server, running_server
from tests.terminal.driver import PROMPT


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One backend for a whole module of terminal tests: each test opens sessions of its own.
    The sessions get a fixed prompt, a UTF-8 locale and no LESS options from its environment."""
    root = tmp_path_factory.mktemp("terminal")
    env = {"PS1": PROMPT, "PROMPT_COMMAND": "", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "LESS": ""}
    with running_server(root / "data", "--heartbeat-interval", "1", env=env) as srv:
        yield srv
    # An error in a handler is only logged: it must not go unseen.
    assert "Traceback" not in srv.stderr()

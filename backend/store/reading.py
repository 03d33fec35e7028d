"""Reads in the readers' pool, and what a failing database becomes for callers."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

from backend.errors import DatabaseUnreadable

log = logging.getLogger(__name__)

T = TypeVar("T")


async def read_in_pool(readers: Executor, what: str, read: Callable[..., T], *args: Any) -> T:
    """Run ``read`` in the readers' pool; a failing database is ``DatabaseUnreadable``."""
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(readers, read, *args)
    except sqlite3.DatabaseError as exc:
        log.warning("cannot read %s: %s", what, exc)
        raise DatabaseUnreadable(
            f"the stored history cannot be read ({exc}); the database may be damaged: "
            'see "A damaged database" in docs/operations.md'
        ) from None

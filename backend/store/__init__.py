"""The one place that speaks SQL: projects, sessions and their events in SQLite."""

from backend.store.records import ProjectRecord, SessionRecord
from backend.store.schema import UnusableDatabase
from backend.store.store import Failure, Loaded, Store

__all__ = ["Failure", "Loaded", "ProjectRecord", "SessionRecord", "Store", "UnusableDatabase"]

"""Projects and sessions: the domain the REST API drives (``SessionManager``)."""

from backend.sessions.manager import Session, SessionManager

__all__ = ["Session", "SessionManager"]

"""Domain errors. The web layer maps each to its HTTP status in one place (web/middleware.py)."""

from __future__ import annotations


class DomainError(Exception):
    """Base class: ``status`` and ``code`` say how the web layer reports it."""

    status = 400
    code = "bad_request"
    retry_after: int | None = None  # seconds, for a refusal that may succeed later (503)

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(DomainError):
    status = 400
    code = "invalid_input"


class InvalidQuery(DomainError):
    """A search with nothing to search for (no word of three characters or more), or too much."""

    status = 400
    code = "invalid_query"


class ProjectNotFound(DomainError):
    status = 404
    code = "project_not_found"


class FolderNotFound(DomainError):
    """A request names a folder that does not exist (or no longer does)."""

    status = 400
    code = "folder_not_found"


class NotAFolder(DomainError):
    """A request names a file where a folder is wanted."""

    status = 400
    code = "not_a_folder"


class FolderNotPermitted(DomainError):
    """The server's user may not enter the folder a request names (or one on the way to it)."""

    status = 400
    code = "folder_not_permitted"


class PathTooLong(DomainError):
    """A path the system refuses for its length (a name over 255 bytes, a path over 4 KiB)."""

    status = 400
    code = "path_too_long"


class SessionNotFound(DomainError):
    status = 404
    code = "session_not_found"


class SessionNotRunning(DomainError):
    status = 409
    code = "session_not_running"


class NotATerminal(DomainError):
    status = 409
    code = "not_a_terminal"


class NotAConversation(DomainError):
    """``resume`` names a session that has no Claude conversation to continue."""

    status = 409
    code = "not_a_conversation"


class RequestNotFound(DomainError):
    """A permission request this conversation never made."""

    status = 404
    code = "request_not_found"


class AlreadyResolved(DomainError):
    """A permission request that was answered, withdrawn or expired already."""

    status = 409
    code = "already_resolved"


class AgentNotAnswering(DomainError):
    """Claude Code did not answer a control request in time, or refused it."""

    status = 502
    code = "agent_error"


class ShuttingDown(DomainError):
    status = 503
    code = "shutting_down"


class StorageFailing(DomainError):
    """The database refuses writes (disk full, read-only, I/O error): nothing new is taken on
    until it can store again. What was already accepted is kept and stored then."""

    status = 507
    code = "insufficient_storage"

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"cannot store anything now: {reason}. Nothing already stored is lost; free some "
            "space (or fix the data folder) and SessionDock goes on by itself"
        )
        self.reason = reason


class DatabaseUnreadable(DomainError):
    """The database failed a read (damaged, or the disk fails): this request cannot be
    answered, while the server and everything it holds in memory go on."""

    status = 503
    code = "database_error"


class TooManyStreams(DomainError):
    """The server holds as many event streams as ``--max-streams`` allows."""

    status = 503
    code = "too_many_streams"
    retry_after = 5

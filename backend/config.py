"""The backend's settings: one frozen dataclass built by the CLI and handed to the app."""

from __future__ import annotations

import resource
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PORT = 3010
MIB = 1024 * 1024
# The share of the descriptor limit event streams may take (one socket each). The rest is for
# what every server needs: the database (its file, WAL and lock, and two per reader), the
# listening socket, each running session's terminal or pipes, REST requests and the log.
STREAM_SHARE = 0.8


def descriptor_limit() -> int:
    """The process's soft limit of open files (``ulimit -n``)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 1 << 20 if soft == resource.RLIM_INFINITY else soft


def default_max_streams() -> int:
    return max(1, int(descriptor_limit() * STREAM_SHARE))


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the server needs to know; tests build one directly."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    token: str | None = None  # None only with --no-auth
    heartbeat_interval: float = 15.0
    allowed_hosts: tuple[str, ...] = ()
    # Output kept per session before the oldest events are trimmed.
    max_session_bytes: int = 50 * MIB
    # Bytes queued for one SSE client before it counts as too slow and is cut off.
    client_buffer_bytes: int = 4 * MIB
    # Open event streams at most; one more is refused with a 503 (too_many_streams).
    max_streams: int = field(default_factory=default_max_streams)
    # A connection that has not sent a request's headers this many seconds after it opened (or
    # after its last response) is closed; so is an idle keep-alive connection.
    header_timeout: float = 10.0
    # A request whose body stops arriving for this many seconds is answered 408.
    body_timeout: float = 30.0
    # Largest request body (a prompt over this gets 413).
    max_body_bytes: int = MIB
    # Lines of history each terminal session's emulator keeps (a snapshot sends at most this).
    scrollback_lines: int = 10_000
    # Output is coalesced into one event per this many seconds at most (or 64 KiB).
    coalesce_seconds: float = 0.003
    # How long shutdown waits for a session to end after SIGTERM before SIGKILL.
    kill_grace_seconds: float = 0.5
    # After a user's Stop (SIGTERM and SIGHUP, or an interrupted turn), how long before SIGKILL.
    stop_grace_seconds: float = 2.0
    retry_ms: int = 2000
    # Run sessions' programs under the session host (backend/host), which outlives the backend;
    # False: as the backend's own children, which end with it.
    session_host: bool = True
    # Stopping (SIGTERM, SIGINT) leaves the session host's programs running for the next start.
    keep_sessions: bool = False
    # Give sessions the PATH of the user's login shell (an app started from a desktop menu
    # has a short one); on by default in a frozen bundle.
    login_path: bool = False
    # Claude Code: the binary (None: ``claude`` on PATH) and its folder (None: the default,
    # $CLAUDE_CONFIG_DIR or ~/.claude; when given, claude sessions get it as CLAUDE_CONFIG_DIR).
    claude_path: str | None = None
    claude_home: Path | None = None
    claude_history: bool = True  # list Claude Code's stored sessions
    history_index: bool = True  # and read them all in the background, for search
    search_index: bool = True  # keep the full-text index of what is stored
    # A conversation's claude process closes after this long without a turn (the next prompt
    # resumes it), and at most this many run at once (the least recently used idle one closes).
    agent_idle_seconds: float = 600.0
    max_live_agents: int = 8
    history_poll_seconds: float = 0.5  # how often an open history file is checked for growth
    history_rescan_seconds: float = 2.0  # listing rescans history at most this often

    @property
    def db_path(self) -> Path:
        return self.data_dir / "sessiondock.sqlite3"

    @property
    def server_file(self) -> Path:
        return self.data_dir / "server.json"

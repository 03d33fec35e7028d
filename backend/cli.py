"""``sessiondock serve``: parse options, start the server, announce it, stop cleanly on a signal."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import secrets
import signal
import sqlite3
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

import platformdirs
from aiohttp import web

from backend import __version__, datadir, logs
from backend.config import DEFAULT_PORT, MIB, Settings, default_max_streams
from backend.datadir import DataDirError
from backend.environment import bundle_dir
from backend.store import UnusableDatabase
from backend.web.app import make_app
from backend.web.keys import CONNECTIONS, MANAGER

log = logging.getLogger("sessiondock")

SHUTDOWN_TIMEOUT = 1.0
# How long a Python thread may hold the GIL while another waits (CPython's default is 5 ms).
# The store's writer and the emulators' workers give up the GIL at every SQLite or libghostty
# call and wait to take it back: with the loop busy streaming a loud session, each of those
# waits could cost up to the whole interval, and a keystroke's echo waits for the writer.
GIL_SWITCH_SECONDS = 0.0005
LOG_FILE = "backend.log"  # in the data dir: where a backend released by its app logs


class StartupError(Exception):
    """A problem the user must fix before the server can start; reported in one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {value}")
    return number


def _count(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more: {value}")
    return number


def _lines(value: str) -> int:
    number = int(value)
    if not 0 <= number <= 1_000_000:
        raise argparse.ArgumentTypeError(f"must be from 0 to 1000000: {value}")
    return number


def _port(value: str) -> int:
    number = int(value)
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number: {value}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sessiondock", description="Watch and drive live sessions.")
    parser.add_argument("--version", action="version", version=f"sessiondock {__version__}")
    commands = parser.add_subparsers(dest="command", parser_class=_Parser)
    serve = commands.add_parser(
        "serve", help="run the backend server (for browsers and the app)",
        epilog="The API token comes from --token-file, --token or the SESSIONDOCK_TOKEN "
        "environment variable, else it is random; the ready line on stdout and "
        "DATA_DIR/server.json (readable only by you) hold it.",
    )  # fmt: skip
    for name, what in (
        ("status", "say whether a backend runs in the data dir, where, and what it runs"),
        ("stop", "stop the backend running in the data dir (its sessions end)"),
    ):
        command = commands.add_parser(name, help=what, description=what)
        command.add_argument("--data-dir", type=Path, help="the backend's data dir")
        if name == "stop":
            command.add_argument(
                "--keep-sessions",
                action="store_true",
                help="leave its sessions running in the session host: the next backend "
                "started in the data dir takes them on (an upgrade, a restart)",
            )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    serve.add_argument("--port", type=_port, default=DEFAULT_PORT, help="0 picks a free port")
    serve.add_argument("--data-dir", type=Path, help="where the database and server.json live")
    given = serve.add_mutually_exclusive_group()
    given.add_argument(
        "--token", help="API token (other users see it in ps: prefer --token-file or "
        "$SESSIONDOCK_TOKEN)",
    )  # fmt: skip
    given.add_argument(
        "--token-file", type=Path, metavar="PATH", help="read the API token from this file"
    )
    serve.add_argument(
        "--no-auth", action="store_true", help="DANGEROUS: accept requests with no token"
    )
    serve.add_argument("--heartbeat-interval", type=_positive, default=15.0, metavar="SECONDS")
    serve.add_argument(
        "--allowed-host", action="append", default=[], metavar="NAME",
        help="a Host name to accept besides localhost (for a reverse proxy); repeatable",
    )  # fmt: skip
    serve.add_argument("--exit-on-stdin-eof", action="store_true", help="stop when stdin closes")
    serve.add_argument(
        "--keep-sessions",
        action="store_true",
        help="on SIGTERM or SIGINT, leave sessions running in the session host for the next "
        "backend (SIGUSR2 does so whatever this says)",
    )
    serve.add_argument(
        "--no-session-host",
        dest="session_host",
        action="store_false",
        help="run sessions as this process's children: they end with it (by default a session "
        "host process runs them, and they outlive a crash or a restart of the backend)",
    )
    serve.add_argument(
        "--max-session-mb", type=_positive, default=50.0, metavar="MB",
        help="stored output per session before the oldest is trimmed",
    )  # fmt: skip
    serve.add_argument(
        "--scrollback-lines", type=_lines, default=10_000, metavar="N",
        help="lines of history each terminal session's screen keeps (the stored output is whole)",
    )  # fmt: skip
    serve.add_argument(
        "--client-buffer-mb", type=_positive, default=4.0, metavar="MB",
        help="output queued for one slow SSE client before it is cut off",
    )  # fmt: skip
    serve.add_argument(
        "--max-streams", type=_count, metavar="N",
        help="open event streams at most; more get 503 (default: 80%% of ulimit -n)",
    )  # fmt: skip
    serve.add_argument(
        "--header-timeout", type=_positive, default=10.0, metavar="SECONDS",
        help="close a connection that sends no complete request headers for this long",
    )  # fmt: skip
    serve.add_argument(
        "--body-timeout", type=_positive, default=30.0, metavar="SECONDS",
        help="answer 408 when a request's body stops arriving for this long",
    )  # fmt: skip
    serve.add_argument(
        "--login-path", action=argparse.BooleanOptionalAction, default=None,
        help="give sessions the login shell's PATH (default: only in the bundled app)",
    )  # fmt: skip
    serve.add_argument(
        "--claude-path", metavar="PATH",
        help="the Claude Code binary (default: $SESSIONDOCK_CLAUDE_PATH, else claude on PATH)",
    )  # fmt: skip
    serve.add_argument(
        "--claude-home", type=Path, metavar="DIR",
        help="Claude Code's folder, whose history is listed (default: $CLAUDE_CONFIG_DIR, "
        "else ~/.claude); also given to claude sessions as CLAUDE_CONFIG_DIR",
    )  # fmt: skip
    serve.add_argument(
        "--agent-idle-minutes", type=_positive, default=10.0, metavar="MINUTES",
        help="close a conversation's claude process after this long without a turn; the "
        "next prompt resumes the conversation",
    )  # fmt: skip
    serve.add_argument(
        "--max-live-agents", type=_count, default=8, metavar="N",
        help="claude processes that may run at once; the least recently used idle one "
        "closes first",
    )  # fmt: skip
    serve.add_argument(
        "--claude-history", action=argparse.BooleanOptionalAction, default=True,
        help="list Claude Code's stored sessions as imported sessions",
    )  # fmt: skip
    serve.add_argument(
        "--search-index", action=argparse.BooleanOptionalAction, default=True,
        help="keep a full-text index of every session for GET /api/search (it takes disk "
        "space: about as much as the text it indexes)",
    )  # fmt: skip
    serve.add_argument(
        "--history-index", action=argparse.BooleanOptionalAction, default=True,
        help="read every listed Claude Code session into the store in the background, so that "
        "search finds it (else each is read when first opened)",
    )  # fmt: skip
    serve.add_argument(
        "--history-poll-interval", type=_positive, default=0.5, metavar="SECONDS",
        help="how often an open imported session's file is checked for new lines",
    )  # fmt: skip
    serve.add_argument(
        "--history-rescan-interval", type=_positive, default=2.0, metavar="SECONDS",
        help="listing sessions rescans Claude Code's history at most this often",
    )  # fmt: skip
    serve.add_argument(
        "--stop-grace",
        type=_positive,
        default=2.0,
        metavar="SECONDS",
        help="after Stop, how long a session may take to end before it is killed",
    )
    serve.add_argument(
        "--event-loop", choices=["asyncio", "uvloop"], default="asyncio",
        help="serve on uvloop instead of asyncio's own loop (pip install 'sessiondock[fast]'); "
        "docs/benchmarks.md compares the two",
    )  # fmt: skip
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return parser


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop to serve on: asyncio's own (None), or uvloop's when asked and installed."""
    if name == "asyncio":
        return None
    try:
        import uvloop  # optional: only for this choice
    except ImportError:
        raise StartupError(
            "--event-loop uvloop: uvloop is not installed (pip install 'sessiondock[fast]')"
        ) from None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def _program(value: str | None) -> str | None:
    """A path made absolute (turns run in other folders); a bare name is looked up on PATH."""
    if not value:
        return None
    return os.path.abspath(os.path.expanduser(value)) if os.sep in value else value


def _token(args: argparse.Namespace) -> str | None:
    if args.no_auth:
        return None
    if args.token_file is not None:
        try:
            token: str = args.token_file.read_text().strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else exc
            raise StartupError(f"cannot read --token-file {args.token_file}: {reason}") from None
        if not token:
            raise StartupError(f"--token-file {args.token_file} is empty")
        return token
    return args.token or os.environ.get("SESSIONDOCK_TOKEN") or secrets.token_urlsafe(32)


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("sessiondock", appauthor=False))


def settings_from_args(args: argparse.Namespace) -> Settings:
    data_dir = args.data_dir or default_data_dir()
    return Settings(
        data_dir=data_dir.expanduser().absolute(),
        host=args.host,
        port=args.port,
        token=_token(args),
        heartbeat_interval=args.heartbeat_interval,
        allowed_hosts=tuple(name.lower() for name in args.allowed_host),
        max_session_bytes=int(args.max_session_mb * MIB),
        client_buffer_bytes=int(args.client_buffer_mb * MIB),
        scrollback_lines=args.scrollback_lines,
        max_streams=args.max_streams or default_max_streams(),
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
        login_path=args.login_path if args.login_path is not None else bundle_dir() is not None,
        claude_path=_program(args.claude_path or os.environ.get("SESSIONDOCK_CLAUDE_PATH")),
        claude_home=args.claude_home.expanduser().absolute() if args.claude_home else None,
        claude_history=args.claude_history,
        history_index=args.history_index,
        search_index=args.search_index,
        agent_idle_seconds=args.agent_idle_minutes * 60,
        max_live_agents=args.max_live_agents,
        history_poll_seconds=args.history_poll_interval,
        history_rescan_seconds=args.history_rescan_interval,
        stop_grace_seconds=args.stop_grace,
        session_host=args.session_host,
        keep_sessions=args.keep_sessions,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in ("status", "stop"):
        from backend import control  # only for these commands

        data_dir = args.data_dir or default_data_dir()
        keep = getattr(args, "keep_sessions", False)
        return control.main(args.command, data_dir.expanduser().absolute(), keep_sessions=keep)
    if args.command != "serve":
        parser.print_help(sys.stderr)
        return 2
    try:
        settings = settings_from_args(args)
        logs.configure(args.log_level, settings.token)
        if args.token:
            log.warning(
                "--token: other users of this machine can read it in the process list (ps); "
                "give it with --token-file PATH or the SESSIONDOCK_TOKEN environment variable"
            )
        sys.setswitchinterval(GIL_SWITCH_SECONDS)
        with asyncio.Runner(loop_factory=loop_factory(args.event_loop)) as runner:
            return runner.run(serve(settings, exit_on_stdin_eof=args.exit_on_stdin_eof))
    except (StartupError, DataDirError) as exc:
        print(f"sessiondock: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


def _write_private_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)
        handle.write("\n")
    os.replace(tmp, path)


def _watch_stdin(
    loop: asyncio.AbstractEventLoop, stop: asyncio.Event, released: asyncio.Event, stdin: BinaryIO
) -> None:
    """Set ``stop`` when stdin reaches EOF: the parent that holds the pipe has gone (unless it
    released us first: then we run on)."""

    def parent_gone() -> None:
        if released.is_set():
            log.info("the app has gone; running on until stopped (sessiondock stop)")
        else:
            stop.set()

    def read_until_eof() -> None:
        with contextlib.suppress(OSError, ValueError):
            while os.read(stdin.fileno(), 65536):
                pass
        loop.call_soon_threadsafe(parent_gone)

    threading.Thread(target=read_until_eof, name="stdin-watch", daemon=True).start()


def _release(settings: Settings, released: asyncio.Event) -> None:
    """SIGUSR1 from the app that started us (its user chose "Keep running" on quit): outlive it.
    Say so on stdout (the app waits for that line), then write to a log file of the data dir,
    as the app's pipes will close."""
    if released.is_set():
        return
    released.set()
    log_file = settings.data_dir / LOG_FILE
    with contextlib.suppress(OSError):  # the app may be gone already: run on all the same
        sys.stdout.write(json.dumps({"event": "released", "log": str(log_file)}) + "\n")
        sys.stdout.flush()
    try:
        fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    except OSError as exc:
        log.warning("cannot open %s (%s): the log goes nowhere", log_file, exc.strerror)
        fd = os.open(os.devnull, os.O_WRONLY)
    for target in (1, 2):
        os.dup2(fd, target)
    os.close(fd)
    log.info("released by the app: running on its own; logging here")


async def serve(settings: Settings, *, exit_on_stdin_eof: bool = False) -> int:
    if settings.token is None:
        log.warning("!" * 72)
        log.warning("--no-auth: ANY local program or web page may run commands through this server")
        log.warning("!" * 72)
    if settings.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("listening on %s: other machines may reach this server", settings.host)
    # Signals count from the start: a SIGTERM that comes while starting (or just after the ready
    # line) still ends in a clean shutdown.
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # SIGUSR2 (``sessiondock stop --keep-sessions``): stop, leaving the sessions running.
    keep = asyncio.Event()

    def stop_keeping() -> None:
        keep.set()
        stop.set()

    loop.add_signal_handler(signal.SIGUSR2, stop_keeping)
    # Before the ready line too: SIGUSR1's default would end the process.
    released = asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, _release, settings, released)
    try:
        with datadir.owned(settings.data_dir, settings.db_path, settings.server_file):
            return await _serve_locked(settings, stop, keep, released, exit_on_stdin_eof)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2):
            loop.remove_signal_handler(signum)


async def _serve_locked(
    settings: Settings,
    stop: asyncio.Event,
    keep: asyncio.Event,
    released: asyncio.Event,
    exit_on_stdin_eof: bool,
) -> int:
    app = make_app(settings)
    debug = log.isEnabledFor(logging.DEBUG)
    runner = web.AppRunner(
        app,
        handler_cancellation=True,  # how a stream learns at once that its client has gone
        shutdown_timeout=SHUTDOWN_TIMEOUT,
        access_log=logging.getLogger("aiohttp.access") if debug else None,
        # A search's words go in the URL: a long one (1,000 characters, up to 9 bytes each
        # encoded) gets our JSON 400, not the HTTP parser's refusal of a line over 8 KiB.
        max_line_size=64 * 1024,
    )
    try:
        await runner.setup()
    except UnusableDatabase as exc:  # it says which file, and why
        raise StartupError(str(exc)) from None
    except (OSError, sqlite3.Error) as exc:  # the database cannot be opened
        raise StartupError(f"cannot open the store in {settings.data_dir}: {exc}") from None
    loop = asyncio.get_running_loop()
    connections = app[CONNECTIONS]
    assert runner.server is not None
    try:
        # Not a web.TCPSite: every connection is watched (web/connections.py).
        server = await loop.create_server(
            connections.protocol_factory(runner.server), settings.host, settings.port, backlog=128
        )
    except OSError as exc:
        await runner.cleanup()
        raise StartupError(
            f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}"
        ) from None
    previous_handler = loop.get_exception_handler()
    loop.set_exception_handler(connections.exception_handler)

    port = server.sockets[0].getsockname()[1]
    url = f"http://{_url_host(settings.host)}:{port}"
    ready = {
        "event": "ready",
        "url": url,
        "port": port,
        "token": settings.token,
        "pid": os.getpid(),
    }
    # What start-up made (modules, the app, the sessions it restored) mostly lives as long as
    # the process: out of the collector's sight, so that a full collection walks only what came
    # after (one took 36-39 ms, holding every thread, with start-up's objects in it). The
    # price: a cycle among them that later becomes garbage (a restored session deleted) is
    # never collected; a few objects a session.
    gc.collect()
    gc.freeze()
    _write_private_json(settings.server_file, ready)
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    # The token stays out of the log: the parent reads it from the ready line, a person from
    # server.json (readable only by its owner).
    if settings.token:
        log.info(
            "SessionDock %s is running; open %s/?token= followed by the token in %s",
            __version__, url, settings.server_file,
        )  # fmt: skip
    else:
        log.info("SessionDock %s is running; open %s/", __version__, url)

    if exit_on_stdin_eof:
        _watch_stdin(loop, stop, released, sys.stdin.buffer)
    try:
        await stop.wait()
    finally:
        if keep.is_set():
            app[MANAGER].keep_sessions = True
        log.info(
            "shutting down%s",
            "; sessions run on in the session host" if app[MANAGER].keep_sessions else "",
        )
        with contextlib.suppress(FileNotFoundError):
            settings.server_file.unlink()
        server.close()  # no new connections; runner.cleanup() closes the open ones
        await runner.cleanup()
        await server.wait_closed()
        loop.set_exception_handler(previous_handler)
    return 0


def _url_host(host: str) -> str:
    """How a client on this machine reaches a server bound to ``host``."""
    if host in ("", "0.0.0.0", "localhost"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host

"""Request guards (Host, Origin, token, content type) and the one place errors become JSON."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import msgspec
from aiohttp import web

from backend.errors import DomainError, StorageFailing
from backend.protocol.api import ErrorBody
from backend.protocol.events import Wire
from backend.web.connections import Watched
from backend.web.keys import BACKGROUND, SETTINGS, STORE

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

COOKIE = "sessiondock_token"
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
OPEN_API_PATHS = frozenset({"/api/health"})
# Streams must be cancelled when their client goes away; nothing else may be.
STREAM_ROUTES = frozenset({"session-events"})
# Writes still taken while the store cannot write: they only signal a process (whatever that
# process then reports waits in memory with the rest), and they let a user stop a session that
# fills the disk.
STORELESS_ROUTES = frozenset(
    {"session-signal", "session-interrupt", "session-stop", "session-resize"}
)


_encoder = msgspec.json.Encoder()


def respond(data: Wire, status: int = 200) -> web.Response:
    """A JSON response of a declared type."""
    # Laid out as json.dumps lays it out (", ", ": "), as the reference guide's walkthrough shows.
    body = msgspec.json.format(_encoder.encode(data), indent=0)
    return web.Response(body=body, status=status, content_type="application/json", charset="utf-8")


def error_response(status: int, code: str, message: str) -> web.Response:
    return respond(ErrorBody(error=message, code=code), status=status)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


@web.middleware
async def track(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A request's headers are in: no deadline on its connection until it is handled
    (web/connections.py)."""
    transport = request.transport
    connection = transport.get_protocol() if transport is not None else None
    if not isinstance(connection, Watched):  # served without the watch (tests' own servers)
        return await handler(request)
    connection.request_started()
    try:
        return await handler(request)
    finally:
        connection.request_done()


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn domain errors and HTTP errors into ``{"error", "code"}``; never leak a traceback."""
    try:
        return await handler(request)
    except DomainError as exc:
        response = error_response(exc.status, exc.code, exc.message)
        if exc.retry_after is not None:
            response.headers["Retry-After"] = str(exc.retry_after)
        if exc.status == 503:
            response.force_close()  # the server is short of something: free this socket
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "http_error")
        response = error_response(exc.status, code, exc.reason)
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        if exc.status == 408:
            response.force_close()  # the rest of the body may still come: no next request
        return response
    except (asyncio.CancelledError, ConnectionError):
        raise
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(500, "internal_error", "internal server error")


def host_allowed(host_header: str | None, allowed: tuple[str, ...]) -> bool:
    """Whether a Host header names this machine (or an allowed proxy name), any port."""
    if not host_header:
        return False
    try:
        hostname = urlsplit(f"//{host_header}").hostname
    except ValueError:  # "[" and friends
        return False
    if hostname is None:
        return False
    if hostname in LOCAL_HOSTS or f"[{hostname}]" in LOCAL_HOSTS:
        return True
    return hostname in allowed


@web.middleware
async def check_host(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse foreign Host headers: a DNS-rebinding page would send its own name."""
    if not host_allowed(request.headers.get("Host"), request.app[SETTINGS].allowed_hosts):
        return error_response(403, "bad_host", "Host header not allowed")
    return await handler(request)


@web.middleware
async def check_origin(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse cross-origin writes (CSRF): a browser always names the page's origin."""
    origin = request.headers.get("Origin")
    if (
        request.method not in SAFE_METHODS
        and origin is not None
        and _netloc(origin) != request.headers.get("Host", "").lower()
    ):
        return error_response(403, "bad_origin", "cross-origin request refused")
    return await handler(request)


def _netloc(url: str) -> str | None:
    try:
        return urlsplit(url).netloc.lower()
    except ValueError:
        return None


def presented_token(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    scheme, _, credentials = auth.partition(" ")
    if scheme.lower() == "bearer" and credentials:
        return credentials.strip()
    return request.query.get("token") or request.cookies.get(COOKIE)


def token_matches(expected: str, presented: str | None) -> bool:
    if presented is None:
        return False
    # surrogateescape: a header's odd bytes must fail the comparison, not raise.
    return hmac.compare_digest(expected.encode(), presented.encode("utf-8", "surrogateescape"))


@web.middleware
async def check_token(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every /api route but the health check needs the token."""
    expected = request.app[SETTINGS].token
    if (
        expected is not None
        and request.path.startswith("/api/")
        and request.path not in OPEN_API_PATHS
        and not token_matches(expected, presented_token(request))
    ):
        return error_response(401, "unauthorized", "missing or wrong token")
    return await handler(request)


@web.middleware
async def check_storage(request: web.Request, handler: Handler) -> web.StreamResponse:
    """While the store cannot write, refuse new work (507) rather than accept what it cannot
    keep; reads, and the actions that only signal a process, go on."""
    failure = request.app[STORE].failure
    if (
        failure is not None
        and request.method not in SAFE_METHODS
        and request.match_info.route.name not in STORELESS_ROUTES
    ):
        raise StorageFailing(failure.reason)
    return await handler(request)


@web.middleware
async def check_content_type(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.body_exists and request.content_type != "application/json":
        return error_response(415, "unsupported_media_type", "request body must be JSON")
    max_body = request.app[SETTINGS].max_body_bytes
    if request.content_length is not None and request.content_length > max_body:
        return error_response(413, "payload_too_large", f"request body over {max_body} bytes")
    return await handler(request)


@web.middleware
async def shield(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Let a request finish even if its client hangs up (the server cancels handlers then)."""
    route = request.match_info.route.name
    if route in STREAM_ROUTES:
        return await handler(request)
    task = asyncio.ensure_future(handler(request))
    background = request.app[BACKGROUND]
    background.add(task)
    task.add_done_callback(background.discard)
    # A result or error nobody waits for any more is dropped on purpose.
    task.add_done_callback(lambda t: t.cancelled() or t.exception())
    return await asyncio.shield(task)


MIDDLEWARES = (
    track,
    errors,
    check_host,
    check_origin,
    check_token,
    check_storage,
    check_content_type,
    shield,
)

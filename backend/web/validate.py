"""Requests into their declared types (backend/protocol/api.py), or InvalidInput saying why."""

from __future__ import annotations

import asyncio
import json
from typing import Any, NoReturn, TypeVar

import msgspec
from aiohttp import web

from backend.errors import InvalidInput
from backend.protocol.api import PATTERN_MEANINGS
from backend.web.keys import SETTINGS

T = TypeVar("T")


async def body(request: web.Request, kind: Any) -> Any:
    """The request's JSON body as ``kind`` (a Struct, or an Annotated one)."""
    settings = request.app[SETTINGS]
    raw = await _read(request, settings.body_timeout, settings.max_body_bytes)
    if not raw:
        raise InvalidInput("a JSON object body is required")
    # JSON may come as UTF-16 or UTF-32, or with a byte order mark (RFC 8259 says to ignore
    # one), as json.loads takes it.
    encoding = json.detect_encoding(raw)
    if encoding != "utf-8":
        try:
            raw = raw.decode(encoding).encode()
        except UnicodeError:
            raise InvalidInput("malformed JSON, or text that is not valid Unicode") from None
    try:
        value = msgspec.json.decode(raw)
    except msgspec.ValidationError:
        # Well-formed JSON with a number Python will not hold (over 4,300 digits, or 1e400).
        # Decoded as the declared type, msgspec names the field.
        _out_of_range(raw, kind)
    except (msgspec.DecodeError, RecursionError):  # RecursionError: "[[[[..." nested too deep
        # msgspec also refuses text that is not valid Unicode ("\ud800"), which no file name,
        # argv or database could hold.
        raise InvalidInput("malformed JSON, or text that is not valid Unicode") from None
    if isinstance(value, dict):
        # JSON has one number type: 80.0 is the integer 80 (JSON Schema agrees).
        value = {
            k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in value.items()
        }
    return convert(value, kind)


async def _read(request: web.Request, idle: float, limit: int) -> bytes:
    """The body, as ``request.read()`` gives it, but refused (408) when none of it comes for
    ``idle`` seconds: a client that stops halfway would hold its connection for ever."""
    body = bytearray()
    while True:
        try:
            async with asyncio.timeout(idle):
                chunk = await request.content.readany()
        except TimeoutError:
            raise web.HTTPRequestTimeout(
                reason=f"the request body stopped arriving for {idle:g} seconds"
            ) from None
        if not chunk:
            return bytes(body)
        body += chunk
        if len(body) > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(body))


def _out_of_range(raw: bytes, kind: Any) -> NoReturn:
    try:
        msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as exc:
        raise InvalidInput(_sentence(str(exc))) from None
    except (msgspec.DecodeError, RecursionError):
        pass
    raise InvalidInput("a number in the body is out of range")


def query(request: web.Request, kind: type[T]) -> T:
    """The query string as ``kind``; an empty value means the default."""
    values = {key: value for key, value in request.query.items() if value != ""}
    return convert(values, kind, strict=False)  # type: ignore[no-any-return]


def convert(value: object, kind: Any, *, strict: bool = True) -> Any:
    try:
        return msgspec.convert(value, kind, strict=strict)
    except msgspec.ValidationError as exc:
        raise InvalidInput(_sentence(str(exc))) from None


def _sentence(message: str) -> str:
    """msgspec's "Expected `int`, got `str` - at `$.cols`" as "cols: expected `int`, got `str`",
    and a missed pattern as what it means."""
    text, _, where = message.rpartition(" - at `$.")
    if not text:
        return message
    _, regex_said, quoted = text.partition("matching regex ")
    pattern = quoted.strip("'").replace("\\\\", "\\")  # quoted as a repr quotes it
    if regex_said and pattern in PATTERN_MEANINGS:
        text = PATTERN_MEANINGS[pattern]
    return f"{where.rstrip('`')}: {text[0].lower()}{text[1:]}"

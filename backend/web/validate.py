"""Reading request bodies and query strings into checked values (InvalidInput otherwise)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from backend.errors import InvalidInput

Body = dict[str, Any]


async def json_body(request: web.Request) -> Body:
    raw = await request.read()  # over client_max_size: HTTPRequestEntityTooLarge (413)
    if not raw:
        raise InvalidInput("a JSON object body is required")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested past Python's limit
        raise InvalidInput("malformed JSON") from None
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    try:
        # JSON may spell lone surrogates ("\ud800"), which no file name, argv or database
        # can hold: refuse them here rather than fail later.
        json.dumps(body, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise InvalidInput("text must be valid Unicode (no lone surrogates)") from None
    return body


def string(
    body: Body, key: str, *, required: bool = False, empty: bool = False, max_length: int = 4096
) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise InvalidInput(f"{key!r} is required")
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{key!r} must be a string")
    if not value and not empty:
        raise InvalidInput(f"{key!r} must not be empty")
    if len(value) > max_length:
        raise InvalidInput(f"{key!r} is longer than {max_length} characters")
    if "\0" in value:
        raise InvalidInput(f"{key!r} must not contain NUL characters")
    return value


def required_string(body: Body, key: str, *, empty: bool = False, max_length: int = 4096) -> str:
    value = string(body, key, required=True, empty=empty, max_length=max_length)
    assert value is not None
    return value


def integer(body: Body, key: str, default: int, *, low: int, high: int) -> int:
    value = body.get(key, default)
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON has one number type: 80.0 is the integer 80
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{key!r} must be an integer")
    if not low <= value <= high:
        raise InvalidInput(f"{key!r} must be between {low} and {high}")
    return value


def boolean(body: Body, key: str, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise InvalidInput(f"{key!r} must be true or false")
    return value


def string_list(body: Body, key: str) -> tuple[str, ...]:
    value = body.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidInput(f"{key!r} must be a list of non-empty strings")
    if any("\0" in v for v in value):
        raise InvalidInput(f"{key!r} must not contain NUL characters")
    return tuple(value)


def query_int(request: web.Request, key: str, default: int, *, low: int, high: int) -> int:
    raw = request.query.get(key)
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit():
        raise InvalidInput(f"{key!r} must be a non-negative integer")
    value = int(raw)
    if not low <= value <= high:
        raise InvalidInput(f"{key!r} must be between {low} and {high}")
    return value

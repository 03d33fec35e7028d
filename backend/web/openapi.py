"""The OpenAPI 3.1 document, generated from the route table and the declared wire types.

Each ``Route`` says what its operation takes and returns as types from backend/protocol; their
JSON Schemas come from msgspec, so the document cannot drift from what the server validates.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiohttp import web

from backend.protocol.api import ErrorBody
from backend.protocol.events import ALL_EVENTS

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Schema = dict[str, Any]

REF = "#/components/schemas/{name}"
ERRORS = {
    400: "Missing, malformed or invalid input, or a path that names no usable folder",
    401: "Missing or wrong token",
    403: "Host or Origin not allowed",
    404: "No such project, session or permission request",
    408: "The request body stopped arriving (--body-timeout)",
    409: (
        "The session is not in a state that allows this, or the permission request was "
        "resolved already"
    ),
    413: "Request body over 1 MiB",
    415: "Request body is not application/json",
    502: "Claude Code did not answer the control request, or refused it",
    503: (
        "Not now: the server is shutting down, holds its limit of event streams, or cannot "
        "read its database"
    ),
    507: "The store cannot write now (disk full, read-only): nothing new is taken on",
}


@dataclass(frozen=True, slots=True)
class Route:
    """One operation: where it is, who handles it, and what it takes and returns."""

    method: str
    path: str
    handler: Handler
    summary: str
    responses: Mapping[int, tuple[Any, str]]  # status → (type, description)
    errors: tuple[int, ...] = ()  # besides 400, 401 and 403, which every /api route may answer
    body: Any = None  # the request body's type
    query: Any = None  # a Struct whose fields are the query parameters
    name: str | None = None
    public: bool = False  # no token needed
    stream: Any = None  # an event stream: its extra parameters (a list of OpenAPI parameters)
    media: tuple[str, ...] = ()  # a file: its success answer's media types (instead of JSON)
    description: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


def openapi_document(routes: Iterable[Route], version: str) -> dict[str, Any]:
    routes = list(routes)
    types: list[Any] = [ErrorBody, *ALL_EVENTS.values()]
    for route in routes:
        types += [kind for kind, _ in route.responses.values() if kind is not None]
        types += [kind for kind in (route.body, route.query) if kind is not None]
    schemas, components = msgspec.json.schema_components(types, ref_template=REF)
    schema_of = dict(zip(map(id, types), schemas, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        item = paths.setdefault(route.path, {})
        if "{id}" in route.path:
            item["parameters"] = [
                {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
            ]
        item[route.method.lower()] = _operation(route, schema_of, components)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "SessionDock",
            "version": version,
            "description": "Run shell and agent sessions and stream their events. See docs/api.md.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"queryToken": []}, {"cookie": []}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "queryToken": {"type": "apiKey", "in": "query", "name": "token"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "sessiondock_token"},
            },
            "schemas": components,
        },
        "paths": paths,
    }


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _operation(route: Route, schema_of: dict[int, Schema], components: Schema) -> Schema:
    operation: Schema = {"summary": route.summary}
    if route.description:
        operation["description"] = route.description
    if route.public:
        operation["security"] = []
    parameters = [*_query_parameters(route.query, schema_of, components), *(route.stream or [])]
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schema_of[id(route.body)]}},
        }
    responses: Schema = {}
    for status, (kind, description) in route.responses.items():
        if route.stream is not None:
            responses[str(status)] = {
                "description": description,
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            }
        elif route.media:
            responses[str(status)] = {
                "description": description,
                "content": {media: {"schema": {"type": "string"}} for media in route.media},
            }
        elif kind is None:
            responses[str(status)] = _json({"type": "object"}, description)
        else:
            responses[str(status)] = _json(schema_of[id(kind)], description)
    error = schema_of[id(ErrorBody)]
    # Every route may refuse what it does not declare (400): a query parameter, a body.
    statuses = {400, 403} if route.public else {400, 401, 403, *route.errors}
    for status in sorted(statuses):
        responses[str(status)] = _json(error, ERRORS[status])
    operation["responses"] = responses
    operation.update(route.extra)
    return operation


def query_names(route: Route) -> list[str]:
    """The query parameters a route declares."""
    names = [p["name"] for p in route.stream or () if p["in"] == "query"]
    if route.query is not None:
        names += [f.encode_name for f in msgspec.structs.fields(route.query)]
    return names


def _query_parameters(kind: Any, schema_of: dict[int, Schema], components: Schema) -> list[Schema]:
    """A query Struct's fields as OpenAPI parameters."""
    if kind is None:
        return []
    name = schema_of[id(kind)]["$ref"].rsplit("/", 1)[-1]
    definition = components[name]
    required = set(definition.get("required", ()))
    return [
        {"name": field_name, "in": "query", "required": field_name in required, "schema": schema}
        for field_name, schema in definition["properties"].items()
    ]

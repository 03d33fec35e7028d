"""The HTTP layer: app factory, URL table, guards, handlers and the SSE stream."""

"""What goes over the wire, declared once and free of I/O: event types (``events``), request
and response bodies (``api``), and the Server-Sent Events encoding (``sse``)."""

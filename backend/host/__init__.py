"""The session host: a small process that owns sessions' programs and outlives the backend.

``spawn``: starting a program in a PTY or on pipes, in a session of its own (used by the host and
by the backend's in-process sessions alike). ``wire``: the frames the backend and the host
exchange over the host's Unix socket. ``server``: the host itself (``python -m backend.host``).
``client``: the backend's side, the link to the host and the sessions it runs there.
docs/architecture.md, "Sessions that outlive the backend", says why it is built this way.
"""

"""SessionDock's backend: an aiohttp server that runs sessions, stores and streams their events."""

# The one place the version is written: pyproject.toml reads it from here (hatch's dynamic
# version). Not read back from the installed metadata: importing importlib.metadata alone took
# an eighth of a second of every backend's start.
__version__ = "0.1.0"

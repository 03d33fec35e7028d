"""SessionDock's backend: an aiohttp server that runs sessions, stores and streams their events."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sessiondock")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"

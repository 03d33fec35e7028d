"""The one module that imports the emulator library (pyghostty's cffi layer over libghostty-vt).

Swapping the library means rewriting this package; nothing outside it sees pyghostty.
"""

from pyghostty import __version__, ffi, lib

# Grid references are tagged unions passed by value, which cffi's ABI mode cannot pass; pyghostty
# declares a layout-identical struct and casts the symbol to it. Private, but it is the binding's
# own answer to a libffi limit, and pyghostty.core relies on it the same way.
from pyghostty._ffi import union_fn

__all__ = ["FREE", "__version__", "ffi", "lib", "union_fn"]

# The functions that free the library's objects, looked up now. cffi looks a function up the
# first time it is used, under a lock it also holds while it parses a type; a finalizer that the
# garbage collector runs in the middle of such a parse, and looks a function up, waits for that
# lock forever (seen: a test hung in ``ffi.new``). Finalizers call only these.
FREE = {
    name: getattr(lib, f"ghostty_{name}_free")
    for name in (
        "terminal",
        "render_state",
        "render_state_row_iterator",
        "render_state_row_cells",
        "key_event",
        "key_encoder",
        "mouse_event",
        "mouse_encoder",
        "selection_gesture",
        "selection_gesture_event",
        "search",
    )
}

# The same twin for the viewport's scroll request, which pyghostty does not declare: a tag and
# a 16-byte union (a delta, a row, or padding). Over 16 bytes, both are passed in memory.
if not hasattr(ffi, "_sessiondock_twins"):
    ffi.cdef(
        """
        typedef struct { int64_t delta; uint64_t _pad; } SessionDockScrollValue;
        typedef struct {
            GhosttyTerminalScrollViewportTag tag; SessionDockScrollValue value;
        } SessionDockScrollViewport;
        """
    )
    ffi._sessiondock_twins = True
_TWIN, _REAL = "SessionDockScrollViewport", "GhosttyTerminalScrollViewport"
if (ffi.sizeof(_TWIN), ffi.alignof(_TWIN)) != (ffi.sizeof(_REAL), ffi.alignof(_REAL)):
    raise ImportError(f"{_TWIN} no longer matches {_REAL}: vtengine/_lib.py needs an update")

"""libghostty-vt, typed, for the backend and the desktop app: one terminal emulator for both.

- ``terminal``: a terminal handle (write, resize, modes, formatter, binary snapshots);
- ``render``: what a renderer reads from it (rows, cells, styles, colours, the cursor), with
  libghostty's dirty tracking;
- ``keys``: the key encoder, which turns a key press into the bytes the program's modes ask for.

Only ``_lib`` imports pyghostty (import-linter holds the packages to that), so the library can be
swapped by rewriting this package. A terminal is not thread-safe: its owner serialises every call.
"""

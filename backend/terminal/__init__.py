"""Terminal emulation for terminal sessions: ``emulator`` keeps a session's screen, answers the
program's terminal queries and draws the screen for clients, on libghostty-vt through pyghostty
(``_ghostty``, the only module that imports it)."""

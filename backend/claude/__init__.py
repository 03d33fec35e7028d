"""Claude Code agent sessions: running turns, parsing their output, importing history."""

"""Claude Code's formats: its stream-json and history lines as events, its stored sessions."""

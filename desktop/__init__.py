"""SessionDock's desktop app (PySide6 + qasync). It talks to the backend only over HTTP."""

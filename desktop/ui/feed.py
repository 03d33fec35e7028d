"""The one place a session's live stream meets Qt: async events in, batched signals out."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from desktop.sse_client import Event, SessionStream, StreamState

FLUSH_MS = 30


class SessionFeed(QObject):
    """Streams the session on screen. Output is handed to the widget at most every 30 ms, in one
    piece, so a session printing 50,000 lines a second costs ~33 widget updates a second."""

    output_received = Signal(str, str)  # session id, text
    event_received = Signal(str, object)  # session id, Event (status, prompt, error, trimmed)
    state_changed = Signal(str, object)  # session id, StreamState

    def __init__(
        self,
        base_url: str,
        token: str,
        session_id: str,
        last_event_id: int | None,
        heartbeat_interval: float,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session_id = session_id
        self.events_seen = 0
        self._pending: list[str] = []
        self._timer = QTimer(self, interval=FLUSH_MS, singleShot=True)
        self._timer.timeout.connect(self.flush)
        self._stream = SessionStream(
            base_url,
            token,
            session_id,
            last_event_id=last_event_id,
            heartbeat_interval=heartbeat_interval,
            on_events=self._on_events,
            on_state=self._on_state,
        )

    @property
    def last_event_id(self) -> int | None:
        return self._stream.last_event_id

    def start(self) -> None:
        self._stream.start()

    async def stop(self) -> None:
        self._timer.stop()
        await self._stream.stop()
        self.flush()

    def set_endpoint(self, base_url: str, token: str) -> None:
        self._stream.set_endpoint(base_url, token)

    def _on_events(self, events: list[Event]) -> None:
        for event in events:
            self.events_seen += 1
            if event.type == "output":
                self._pending.append(_text(event.data))
                if not self._timer.isActive():
                    self._timer.start()
            else:
                self.flush()  # what came before a status comes out before it
                self.event_received.emit(self.session_id, event)

    def _on_state(self, state: StreamState) -> None:
        self.state_changed.emit(self.session_id, state)

    def flush(self) -> None:
        self._timer.stop()
        if self._pending:
            text = "".join(self._pending)
            self._pending.clear()
            self.output_received.emit(self.session_id, text)


def _text(data: dict[str, Any]) -> str:
    content = data.get("content", "")
    return content if isinstance(content, str) else str(content)

"""What the backend and the session host say to each other, and how it travels.

Frames go over the host's Unix stream socket, each after its length (4 bytes, big-endian) and a
kind byte: ``M`` for a message (msgpack, msgspec's tagged structs below), ``O`` for a program's
output, whose bytes follow a small fixed header as they are (no encoding, no copy: the host
sends the header and the bytes it read in one ``sendmsg``). Descriptors (a PTY's master, a
pipe's write end) travel beside the message that announces them (``SCM_RIGHTS``): the backend
writes input, resizes and reads the foreground job through its own copy, so keystrokes do not
pass through the host.

Offsets count the bytes a program wrote to one stream since it started. The host keeps what it
read until the backend acknowledges it (``Ack``), which it does once the events that hold those
bytes are committed; a backend that starts again ``Adopt``s a session from the offsets its store
kept, so nothing is lost and nothing is stored twice.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import logging
import os
import socket
import struct
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import msgspec

log = logging.getLogger(__name__)

SOCKET_NAME: Final = "host.sock"
LOCK_NAME: Final = "host.lock"
LOG_NAME: Final = "host.log"
HEADER: Final = 4
MAX_FRAME: Final = 16 * 1024 * 1024
RECV_SIZE: Final = 1024 * 1024
MAX_FDS: Final = 16
MAX_PIECES: Final = 64  # buffers in one sendmsg (the system allows 1024)


class Frame(msgspec.Struct, tag_field="op", kw_only=True):
    pass


# -- backend → host ---------------------------------------------------------------------------


class Spawn(Frame, tag="spawn"):
    id: str
    argv: list[str]
    cwd: str
    env: dict[str, str]
    tty: bool
    cols: int
    rows: int


class Adopt(Frame, tag="adopt"):
    """Send this session's output again from ``offsets`` (what the store holds), then on."""

    id: str
    offsets: dict[str, int]


class Ack(Frame, tag="ack"):
    """Everything of ``stream`` before ``offset`` is stored: the host may let it go."""

    id: str
    stream: str
    offset: int


class Pause(Frame, tag="pause"):
    id: str


class Resume(Frame, tag="resume"):
    id: str


class CloseInput(Frame, tag="close-input"):
    id: str


class Forget(Frame, tag="forget"):
    """The session's end is stored (or nobody knows it): end what is left of it, drop it."""

    id: str


ToHost = Spawn | Adopt | Ack | Pause | Resume | CloseInput | Forget


# -- host → backend ---------------------------------------------------------------------------


class Held(msgspec.Struct, kw_only=True):
    """A session the host holds: running, or exited (``exit_code``) and not yet forgotten."""

    id: str
    pid: int
    tty: bool
    exit_code: int | None = None
    exited: bool = False


class Hello(Frame, tag="hello"):
    pid: int
    sessions: list[Held]


class Spawned(Frame, tag="spawned"):
    """The program runs; ``fds`` descriptors came with this frame (input, then the PTY)."""

    id: str
    pid: int
    fds: int


class SpawnFailed(Frame, tag="spawn-failed"):
    id: str
    errno: int
    message: str


class Adopted(Frame, tag="adopted"):
    id: str
    fds: int


class Output(msgspec.Struct):
    """What a program wrote: ``data`` starts at ``offset`` of ``stream``."""

    id: str
    stream: str
    offset: int
    data: bytes


class Exited(Frame, tag="exited"):
    """The program exited (``code`` as asyncio gives it: -N for signal N); nothing follows."""

    id: str
    code: int


ToBackend = Hello | Spawned | SpawnFailed | Adopted | Exited

_encoder = msgspec.msgpack.Encoder()
decode_to_host = msgspec.msgpack.Decoder(ToHost).decode
decode_to_backend = msgspec.msgpack.Decoder(ToBackend).decode


class ProtocolError(ValueError):
    """The other side sent what is not a frame of ours."""


MESSAGE: Final = b"M"[0]
OUTPUT: Final = b"O"[0]
STREAMS: Final = ("stdout", "stderr")
# After the length and the kind: the offset (8 bytes), the stream (1), the id's length (1).
_OUTPUT_HEAD: Final = struct.Struct(">IBQBB")


def encode(frame: Frame) -> bytearray:
    """A message, with its length and kind before it."""
    buffer = bytearray(HEADER + 1)
    _encoder.encode_into(frame, buffer, HEADER + 1)
    buffer[:HEADER] = (len(buffer) - HEADER).to_bytes(HEADER, "big")
    buffer[HEADER] = MESSAGE
    return buffer


def output_head(session_id: bytes, stream: int, offset: int, size: int) -> bytes:
    """The header of an output frame whose ``size`` bytes of data follow it."""
    length = _OUTPUT_HEAD.size - HEADER + len(session_id) + size
    return _OUTPUT_HEAD.pack(length, OUTPUT, offset, stream, len(session_id)) + session_id


class FrameReader:
    """Bytes from the socket → whole frames (messages decoded; output as ``Output``)."""

    def __init__(self, decode: Callable[[Any], Any]) -> None:
        self._decode = decode
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        if self._buffer:
            self._buffer += data
            source: bytes | bytearray = self._buffer
        else:
            source = data  # most reads end on a frame's end: no copy
        frames = []
        pos, end = 0, len(source)
        with memoryview(source) as view:
            while end - pos >= HEADER:
                size = int.from_bytes(view[pos : pos + HEADER], "big")
                if size > MAX_FRAME or size < 1:
                    raise ProtocolError(f"a frame of {size} bytes")
                if end - pos - HEADER < size:
                    break
                start, stop = pos + HEADER, pos + HEADER + size
                if view[start] == OUTPUT:
                    frames.append(_output(view, start, stop))
                elif view[start] == MESSAGE:
                    try:
                        frames.append(self._decode(view[start + 1 : stop]))
                    except msgspec.DecodeError as exc:
                        raise ProtocolError(str(exc)) from None
                else:
                    raise ProtocolError(f"a frame of kind {view[start]}")
                pos = stop
        if source is self._buffer:
            del self._buffer[:pos]
        elif pos < end:
            self._buffer += data[pos:]
        return frames


def _output(view: memoryview, start: int, stop: int) -> Output:
    if stop - start < _OUTPUT_HEAD.size - HEADER:
        raise ProtocolError("an output frame cut short")
    _, _, offset, stream, id_size = _OUTPUT_HEAD.unpack_from(view, start - HEADER)
    data_at = start - HEADER + _OUTPUT_HEAD.size + id_size
    if data_at > stop or stream >= len(STREAMS):
        raise ProtocolError("a damaged output frame")
    session_id = bytes(view[data_at - id_size : data_at]).decode()
    return Output(session_id, STREAMS[stream], offset, bytes(view[data_at:stop]))


class Channel:
    """One end of the host's socket: frames out (with descriptors, never blocking the loop),
    frames in (with the descriptors that came, in ``fds``, oldest first)."""

    def __init__(
        self,
        sock: socket.socket,
        decode: Callable[[Any], Any],
        on_frame: Callable[[Any], None],
        on_close: Callable[[], None],
    ) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._fd = sock.fileno()
        self._reader = FrameReader(decode)
        self._on_frame = on_frame
        self._on_close = on_close
        self._loop = asyncio.get_running_loop()
        # Pieces to send, in order; descriptors go with the first byte of their piece.
        self._out: deque[tuple[memoryview, list[int]]] = deque()
        self._writing = False
        self.fds: deque[int] = deque()
        self.closed = False
        self._closing = False
        self.buffered = 0  # bytes queued, not yet sent
        self._loop.add_reader(self._fd, self._readable)

    def send(self, frame: Frame, fds: list[int] | None = None) -> None:
        """Queue a message; ``fds`` go with it and are closed here once sent."""
        self.send_pieces([encode(frame)], fds)

    def send_pieces(
        self, pieces: list[bytes | bytearray | memoryview], fds: list[int] | None = None
    ) -> None:
        """Queue a frame made of ``pieces`` (a header and the bytes as read: not joined)."""
        if self.closed:
            for fd in fds or ():
                os.close(fd)
            return
        for i, piece in enumerate(pieces):
            self.buffered += len(piece)
            self._out.append((memoryview(piece), (fds or []) if i == 0 else []))
        if not self._writing:
            self._flush()

    def _flush(self) -> None:
        while self._out:
            # As many pieces as one sendmsg takes; one with descriptors only leads a call.
            batch: list[memoryview] = []
            fds = self._out[0][1]
            for piece, piece_fds in self._out:
                if (piece_fds and batch) or len(batch) >= MAX_PIECES:
                    break
                batch.append(piece)
            ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
            try:
                sent = self._sock.sendmsg(batch, ancillary if fds else [])
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                log.info("the session host's socket failed: %s", exc)
                self.close()
                return
            for fd in fds:
                os.close(fd)
            self.buffered -= sent
            while sent:
                piece, _ = self._out[0]
                if sent < len(piece):
                    self._out[0] = (piece[sent:], [])
                    break
                sent -= len(piece)
                self._out.popleft()
            else:
                continue
            break  # the socket took part of a piece: it is full
        if self._out and not self._writing:
            self._writing = True
            self._loop.add_writer(self._fd, self._flush)
        elif not self._out and self._writing:
            self._writing = False
            self._loop.remove_writer(self._fd)

    def _readable(self) -> None:
        try:
            data, fds, _flags, _ = socket.recv_fds(self._sock, RECV_SIZE, MAX_FDS)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data, fds = b"", []
        self.fds.extend(fds)
        if not data:
            self.close()
            return
        try:
            frames = self._reader.feed(data)
        except ProtocolError as exc:
            log.error("the session host's socket carried what is not a frame: %s", exc)
            self.close()
            return
        for frame in frames:
            if self.closed:
                return
            self._on_frame(frame)

    def take_fds(self, count: int) -> list[int]:
        return [self.fds.popleft() for _ in range(min(count, len(self.fds)))]

    def close(self) -> None:
        if self.closed or self._closing:
            return
        self._closing = True
        if self._out:  # what the socket takes now still goes (a last ``forget``, say)
            self._flush()
        self.closed = True
        self._loop.remove_reader(self._fd)
        if self._writing:
            self._loop.remove_writer(self._fd)
        for _, fds in self._out:
            for fd in fds:
                os.close(fd)
        self._out.clear()
        while self.fds:
            os.close(self.fds.popleft())
        self._sock.close()
        self._on_close()


def socket_address(data_dir: Path) -> str:
    """Where the host listens: ``host.sock`` in the data dir, named through a descriptor of
    the folder when its path is too long for a socket address (Linux, 108 bytes)."""
    path = data_dir / SOCKET_NAME
    if len(os.fsencode(path)) < 100:
        return str(path)
    folder = _folders.get(data_dir)
    if folder is None:
        folder = _folders[data_dir] = os.open(data_dir, os.O_RDONLY | os.O_DIRECTORY)
    return f"/proc/self/fd/{folder}/{SOCKET_NAME}"


_folders: dict[Path, int] = {}


def open_folders() -> list[int]:
    """The descriptors ``socket_address`` keeps open."""
    return list(_folders.values())


def peer_uid(sock: socket.socket) -> int | None:
    """The connected peer's user id (Linux), None where the system cannot say."""
    with contextlib.suppress(OSError, AttributeError):
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        return int(struct.unpack("3i", creds)[1])
    return None

"""The message channel: protocol messages (engine.protocol.encode bytes) over a pair of one-way pipes.

Control flows client -> engine, events engine -> client. Every received message is decoded and
validated against the receiver's allowed types; a malformed one becomes an ErrorEvent (code
"protocol") instead of an exception. Sending is thread-safe (one lock per direction).
"""

from __future__ import annotations

import contextlib
import threading
from multiprocessing.connection import Connection

from engine.protocol import EVENT_TYPES, ErrorEvent, ProtocolError, decode, encode

# the client raises EngineDown itself; an engine must never send it
ENGINE_EVENT_TYPES: dict[str, type] = {k: v for k, v in EVENT_TYPES.items() if k != "engine_down"}


class ChannelClosed(EOFError):
    """The other side closed the channel (process exited)."""


class Channel:
    def __init__(self, recv: Connection, send: Connection, allowed: dict[str, type]) -> None:
        self._recv = recv
        self._send = send
        self._allowed = allowed
        self._send_lock = threading.Lock()

    def send(self, msg: object) -> None:
        """Encode and send one message. Raises ChannelClosed if the other side is gone."""
        data = encode(msg)
        with self._send_lock:
            try:
                self._send.send_bytes(data)
            except (BrokenPipeError, ConnectionResetError, EOFError, OSError) as e:
                raise ChannelClosed(f"channel closed: {e}") from None

    def send_raw(self, data: bytes) -> None:
        """Send bytes as they are (tests use it to inject malformed messages)."""
        with self._send_lock:
            try:
                self._send.send_bytes(data)
            except (BrokenPipeError, ConnectionResetError, EOFError, OSError) as e:
                raise ChannelClosed(f"channel closed: {e}") from None

    def poll(self, timeout_s: float) -> bool:
        try:
            return self._recv.poll(timeout_s)
        except (EOFError, OSError) as e:
            raise ChannelClosed(f"channel closed: {e}") from None

    def recv(self) -> object:
        """Block for one message; returns the decoded message or an ErrorEvent for a malformed one."""
        try:
            data = self._recv.recv_bytes()
        except (EOFError, ConnectionResetError, OSError) as e:
            raise ChannelClosed(f"channel closed: {e}") from None
        return decode_or_error(data, self._allowed)

    def recv_ready(self, timeout_s: float, max_messages: int = 256) -> list[object]:
        """All messages that arrive within `timeout_s` (waits only for the first)."""
        out: list[object] = []
        if not self.poll(timeout_s):
            return out
        while len(out) < max_messages:
            try:
                out.append(self.recv())
                if not self.poll(0):  # True at end-of-file too: the next recv() tells
                    break
            except ChannelClosed:
                if not out:
                    raise
                break  # hand over what was read (an engine's last words); the next call raises
        return out

    def close(self) -> None:
        for conn in (self._recv, self._send):
            with contextlib.suppress(OSError):
                conn.close()


def decode_or_error(data: bytes, allowed: dict[str, type]) -> object:
    try:
        return decode(data, allowed)
    except ProtocolError as e:
        return ErrorEvent(code="protocol", message=f"malformed message rejected: {e}")

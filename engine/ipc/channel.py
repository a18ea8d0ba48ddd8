"""The message channel: protocol messages (engine.protocol.encode bytes) over a pair of one-way pipes.

Control flows client -> engine, events engine -> client. Every received message is decoded and
validated against the receiver's allowed types; a malformed one becomes an ErrorEvent (code
"protocol") instead of an exception. Sending is thread-safe (one lock per direction).

A channel made with `send_timeout_s` (the client's: it must never hang on a frozen engine) writes
without blocking: a send that cannot finish within the timeout (the reader stopped reading and the
64 KiB pipe is full) raises ChannelTimeout instead of waiting forever. Without it (the engine's)
sends block until the reader makes room. The bytes on the pipe are Connection.send_bytes' own
(a 4-byte big-endian length, then the message), so either end reads them with recv_bytes.
"""

from __future__ import annotations

import contextlib
import os
import select
import struct
import sys
import threading
import time
from multiprocessing.connection import Connection

from engine.protocol import EVENT_TYPES, ErrorEvent, ProtocolError, decode, encode

# the client raises EngineDown itself; an engine must never send it
ENGINE_EVENT_TYPES: dict[str, type] = {k: v for k, v in EVENT_TYPES.items() if k != "engine_down"}


_POSIX = sys.platform != "win32"  # Windows pipes cannot be polled: sends there always block
_MAX_MESSAGE = 0x7FFFFFFF  # bytes: the 4-byte length header's limit (send_bytes goes 8-byte above it)


class ChannelClosed(EOFError):
    """The other side closed the channel (process exited)."""


class ChannelTimeout(ChannelClosed):
    """A send could not finish within its timeout: the other side has stopped reading (frozen).

    A ChannelClosed, so a caller that treats "could not send" alike needs no new case. Nothing of
    the message was sent, unless it was over PIPE_BUF (4 KiB) and went out in part: then the
    channel is broken and every later send raises ChannelClosed."""


class Channel:
    def __init__(
        self,
        recv: Connection,
        send: Connection,
        allowed: dict[str, type],
        send_timeout_s: float | None = None,
    ) -> None:
        """send_timeout_s: None: sends block until the reader makes room; seconds: see send()."""
        if send_timeout_s is not None and send_timeout_s < 0:
            raise ValueError("send_timeout_s must be >= 0")
        self._recv = recv
        self._send = send
        self._allowed = allowed
        self._send_lock = threading.Lock()
        self.send_timeout_s = send_timeout_s if _POSIX else None
        self._broken = ""  # why sends fail at once: a timed-out send left part of a message
        if self.send_timeout_s is not None:
            os.set_blocking(send.fileno(), False)  # only this end's open file: the reader is unaffected

    def send(self, msg: object, timeout_s: float | None = None) -> None:
        """Encode and send one message. Raises ChannelClosed if the other side is gone.

        On a channel made with send_timeout_s it waits at most that long (or `timeout_s`, seconds,
        if given) for the lock and for room in the pipe, then raises ChannelTimeout.
        """
        self._send_data(encode(msg), timeout_s)

    def send_raw(self, data: bytes) -> None:
        """Send bytes as they are (tests use it to inject malformed messages)."""
        self._send_data(data, None)

    def _send_data(self, data: bytes, timeout_s: float | None) -> None:
        if self.send_timeout_s is None:
            if timeout_s is not None:
                raise ValueError("a send timeout needs a channel made with send_timeout_s")
            with self._send_lock:
                try:
                    self._send.send_bytes(data)
                except (BrokenPipeError, ConnectionResetError, EOFError, OSError) as e:
                    raise ChannelClosed(f"channel closed: {e}") from None
            return
        limit = self.send_timeout_s if timeout_s is None else max(0.0, timeout_s)
        deadline = time.monotonic() + limit
        if not self._send_lock.acquire(timeout=limit):
            raise ChannelTimeout(f"channel send timed out after {limit:g} s (another send is stuck)")
        try:
            self._write_until(data, deadline, limit)
        finally:
            self._send_lock.release()

    def _write_until(self, data: bytes, deadline: float, limit: float) -> None:
        """Write one framed message to the non-blocking pipe by `deadline` (monotonic s)."""
        if self._broken:
            raise ChannelClosed(f"channel closed: {self._broken}")
        if len(data) > _MAX_MESSAGE:
            raise ValueError(f"message of {len(data)} bytes is too large for the channel")
        frame = memoryview(struct.pack("!i", len(data)) + data)
        sent = 0
        while sent < len(frame):
            try:
                fd = self._send.fileno()  # OSError once closed
                sent += os.write(fd, frame[sent:])  # what fits; <= 4 KiB goes whole or not at all
                continue
            except BlockingIOError:  # the pipe is full
                pass
            except OSError as e:  # a gone reader (EPIPE), a closed end
                raise ChannelClosed(f"channel closed: {e}") from None
            left_s = deadline - time.monotonic()
            if left_s <= 0:
                if sent:
                    self._broken = f"a send timed out after {sent} of {len(frame)} bytes"
                raise ChannelTimeout(f"channel send timed out after {limit:g} s (the reader is stuck)")
            poller = select.poll()  # also wakes on a gone reader or a closed fd: the next write tells
            poller.register(fd, select.POLLOUT)
            poller.poll(max(1, int(left_s * 1000)))

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

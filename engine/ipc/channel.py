"""The message channel: protocol messages (engine.protocol.encode bytes) over a pair of one-way pipes.

Control flows client -> engine, events engine -> client. Every received message is decoded and
validated against the receiver's allowed types; a malformed one becomes an ErrorEvent (code
"protocol") instead of an exception. Sending is thread-safe (one lock per direction).

A channel made with `send_timeout_s` (the client's: it must never hang on a frozen engine) never
waits longer than that: a send that cannot finish within the timeout (the reader stopped reading and
the pipe is full) raises ChannelTimeout instead of waiting forever. Without it (the engine's) sends
block until the reader makes room. On Linux and macOS the bounded sends write to the non-blocking
pipe themselves (the bytes are Connection.send_bytes' own: a 4-byte big-endian length, then the
message; either end reads them with recv_bytes). Windows pipes cannot be polled: there a writer
thread sends each message whole with send_bytes, and a send waits for it at most its timeout (a
message that timed out is still delivered, whole, if the reader reads again; until it has gone,
every send raises ChannelTimeout).
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import struct
import sys
import threading
import time
from multiprocessing.connection import Connection

from engine.protocol import EVENT_TYPES, ErrorEvent, ProtocolError, decode, encode

# the client raises EngineDown itself; an engine must never send it
ENGINE_EVENT_TYPES: dict[str, type] = {k: v for k, v in EVENT_TYPES.items() if k != "engine_down"}


_POSIX = sys.platform != "win32"  # Windows pipes cannot be polled: bounded sends there use a writer thread
# bytes: a non-blocking write of up to this many goes whole or not at all (Linux 4096, macOS 512);
# a longer one may go in part
PIPE_BUF: int = getattr(select, "PIPE_BUF", 512)
# s: a message that went out in part when its timeout ran out gets this much longer to finish: cut
# short, the reader would read the next message's bytes as its rest (the channel is then broken)
FINISH_GRACE_S = 2.0
_CLOSE_WAIT_S = 0.2  # s: close() waits this long for a send under way before leaving the end to it
_MAX_MESSAGE = 0x7FFFFFFF  # bytes: the 4-byte length header's limit (send_bytes goes 8-byte above it)


class ChannelClosed(EOFError):
    """The other side closed the channel (process exited)."""


class ChannelTimeout(ChannelClosed):
    """A send could not finish within its timeout: the other side has stopped reading (frozen).

    A ChannelClosed, so a caller that treats "could not send" alike needs no new case. Nothing of
    the message was sent: one of up to PIPE_BUF bytes goes whole or not at all, and one that went
    out in part gets FINISH_GRACE_S more to finish; only a reader that does not read within that
    either leaves it cut short, and then the channel is broken (every later send raises
    ChannelClosed). On Windows (writer thread) the message is still delivered, whole, should the
    reader read again."""


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
        self.send_timeout_s = send_timeout_s
        self._broken = ""  # why sends fail at once: a timed-out send left part of a message
        # set by close(). The send end's file is closed only by whoever holds _send_lock: a sender
        # never writes to a descriptor number that a new pipe (the next engine's) has taken since
        self._closed = False
        self._writer: _Writer | None = None
        if send_timeout_s is not None:
            if _POSIX:
                os.set_blocking(send.fileno(), False)  # only this end's open file: the reader is unaffected
            else:
                self._writer = _Writer(send)

    def send(self, msg: object, timeout_s: float | None = None) -> None:
        """Encode and send one message. Raises ChannelClosed if the other side is gone.

        On a channel made with send_timeout_s it waits at most that long (or `timeout_s`, seconds,
        if given) for the lock and for room in the pipe, then raises ChannelTimeout. On a channel
        without it, `timeout_s` is ignored: the send blocks until the reader makes room.
        """
        self._send_data(encode(msg), timeout_s)

    def send_raw(self, data: bytes) -> None:
        """Send bytes as they are (tests use it to inject malformed messages)."""
        self._send_data(data, None)

    def _send_data(self, data: bytes, timeout_s: float | None) -> None:
        if self.send_timeout_s is None:
            self._send_lock.acquire()
            try:
                self._check_open()
                self._send.send_bytes(data)
            except (BrokenPipeError, ConnectionResetError, EOFError, OSError) as e:
                raise ChannelClosed(f"channel closed: {e}") from None
            finally:
                self._release()
            return
        limit = self.send_timeout_s if timeout_s is None else max(0.0, timeout_s)
        deadline = time.monotonic() + limit
        if not self._send_lock.acquire(timeout=limit):
            raise ChannelTimeout(f"channel send timed out after {limit:g} s (another send is stuck)")
        try:
            self._check_open()
            if self._writer is not None:
                self._writer.send(data, deadline, limit)
            else:
                self._write_until(data, deadline, limit)
        finally:
            self._release()

    def _check_open(self) -> None:
        if self._closed:
            raise ChannelClosed("channel closed")

    def _release(self) -> None:
        """Let go of the send lock; close the send end if close() gave up waiting for it."""
        self._send_lock.release()
        if self._closed and self._send_lock.acquire(blocking=False):  # (else: its holder does it)
            try:
                self._close_send()
            finally:
                self._send_lock.release()

    def _close_send(self) -> None:
        if self._writer is not None:  # it closes the end itself, once no write is under way
            self._writer.close()
            return
        with contextlib.suppress(OSError):
            self._send.close()

    def _write_until(self, data: bytes, deadline: float, limit: float) -> None:
        """Write one framed message to the non-blocking pipe by `deadline` (monotonic s)."""
        if self._broken:
            raise ChannelClosed(f"channel closed: {self._broken}")
        if len(data) > _MAX_MESSAGE:
            raise ValueError(f"message of {len(data)} bytes is too large for the channel")
        frame = memoryview(struct.pack("!i", len(data)) + data)
        sent = 0
        grace = True
        while sent < len(frame):
            self._check_open()  # (under the send lock: close() has not closed the end yet)
            try:
                fd = self._send.fileno()
                sent += os.write(fd, frame[sent:])  # what fits; <= PIPE_BUF goes whole or not at all
                continue
            except BlockingIOError:  # the pipe is full
                pass
            except OSError as e:  # a gone reader (EPIPE), a closed end
                raise ChannelClosed(f"channel closed: {e}") from None
            left_s = deadline - time.monotonic()
            if left_s <= 0 and sent and grace:  # part of it is out: finish it rather than break the channel
                grace = False
                deadline += FINISH_GRACE_S
                left_s += FINISH_GRACE_S
            if left_s <= 0:
                if sent:
                    self._broken = f"a send timed out after {sent} of {len(frame)} bytes"
                raise ChannelTimeout(f"channel send timed out after {limit:g} s (the reader is stuck)")
            poller = select.poll()  # also wakes on a gone reader: the next write tells
            poller.register(fd, select.POLLOUT)
            poller.poll(max(1, int(min(left_s, 0.05) * 1000)))  # a close() is seen within 50 ms

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
        """Close both ends. Sends fail (ChannelClosed) from now on; one under way (waiting for room,
        at most its timeout) stops within 50 ms and closes the send end as it lets go: close() waits
        for it only _CLOSE_WAIT_S."""
        self._closed = True
        with contextlib.suppress(OSError):
            self._recv.close()
        if self._send_lock.acquire(timeout=_CLOSE_WAIT_S):
            try:
                self._close_send()
            finally:
                self._send_lock.release()


class _Writer:
    """Windows' bounded sends: one thread writes each message whole with the blocking send_bytes;
    a sender hands it one message at a time and waits for it at most its own timeout."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._todo: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._idle = threading.Event()  # set: no message being written
        self._idle.set()
        self._error = ""  # why the pipe failed: every later send raises ChannelClosed
        threading.Thread(target=self._run, name="duet-channel-writer", daemon=True).start()

    def send(self, data: bytes, deadline: float, limit: float) -> None:
        """The caller holds the channel's send lock (one message in flight at most)."""
        if not self._idle.wait(max(0.0, deadline - time.monotonic())):
            raise ChannelTimeout(
                f"channel send timed out after {limit:g} s (the reader is stuck on an earlier message)"
            )
        self._check()
        self._idle.clear()
        self._todo.put(data)
        if not self._idle.wait(max(0.0, deadline - time.monotonic())):
            raise ChannelTimeout(
                f"channel send timed out after {limit:g} s (the reader is stuck; the message goes"
                " out whole if it reads again)"
            )
        self._check()

    def _check(self) -> None:
        if self._error:
            raise ChannelClosed(f"channel closed: {self._error}")

    def _run(self) -> None:
        while (data := self._todo.get()) is not None:
            try:
                self._conn.send_bytes(data)
            except (OSError, EOFError) as e:  # a gone reader, a closed end
                self._error = str(e) or type(e).__name__
            finally:
                self._idle.set()
            if self._error:
                break
        with contextlib.suppress(OSError):
            self._conn.close()

    def close(self) -> None:
        self._error = self._error or "closed"  # later sends raise ChannelClosed
        self._todo.put(None)


def decode_or_error(data: bytes, allowed: dict[str, type]) -> object:
    try:
        return decode(data, allowed)
    except ProtocolError as e:
        return ErrorEvent(code="protocol", message=f"malformed message rejected: {e}")

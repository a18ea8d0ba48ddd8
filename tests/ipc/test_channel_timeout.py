"""A channel made with send_timeout_s never blocks on a reader that stopped reading (a frozen
engine): the send gives up with ChannelTimeout; what it writes is still read by recv_bytes."""

from __future__ import annotations

import multiprocessing as mp
import threading
import time

import pytest

from engine.ipc import channel
from engine.ipc.channel import ENGINE_EVENT_TYPES, Channel, ChannelClosed, ChannelTimeout
from engine.protocol import CONTROL_TYPES, Ping, UserText, encode

TIMEOUT_S = 0.3


def pair(send_timeout_s: float | None = TIMEOUT_S) -> tuple[Channel, Channel]:
    """(engine side, client side): control flows client -> engine; only the client's sends time out."""
    ctx = mp.get_context("spawn")
    ev_recv, ev_send = ctx.Pipe(duplex=False)
    ctl_recv, ctl_send = ctx.Pipe(duplex=False)
    engine = Channel(ctl_recv, ev_send, CONTROL_TYPES)
    client = Channel(ev_recv, ctl_send, ENGINE_EVENT_TYPES, send_timeout_s=send_timeout_s)
    return engine, client


# the largest UserText a non-blocking write sends whole or not at all (on macOS PIPE_BUF is 512 B)
ATOMIC_TEXT = UserText("x" * min(1000, channel.PIPE_BUF - 4 - len(encode(UserText("")))))


def _fill(client: Channel, timeout_s: float = 0.0) -> list[object]:
    """Send until the pipe is full (nobody reads), even for a small message; returns what went."""
    sent: list[object] = []
    for msg in (ATOMIC_TEXT, Ping(0, 0)):  # then small ones: they fit into the last page
        for _ in range(100_000):  # far over a pipe's 64 KiB
            try:
                client.send(msg, timeout_s=timeout_s)
            except ChannelTimeout:
                break
            sent.append(msg)
    assert len(sent) > 10
    return sent


def test_a_send_into_a_full_pipe_times_out_and_the_channel_still_works() -> None:
    engine, client = pair()
    sent = _fill(client)
    t0 = time.monotonic()
    with pytest.raises(ChannelTimeout):
        client.send(Ping(1, 0))
    assert TIMEOUT_S - 0.05 < time.monotonic() - t0 < TIMEOUT_S + 0.5
    t0 = time.monotonic()
    with pytest.raises(ChannelTimeout):
        client.send(Ping(2, 0), timeout_s=0.0)  # a shorter timeout for this one message
    assert time.monotonic() - t0 < 0.1
    got = [engine.recv() for _ in sent]  # the reader wakes up: all whole messages, in order
    assert got == sent
    client.send(Ping(3, 0))  # the messages that timed out were not sent at all
    assert engine.recv_ready(1.0) == [Ping(3, 0)]
    engine.close()
    client.close()


def test_a_send_waiting_for_the_lock_times_out_too() -> None:
    engine, client = pair()
    _fill(client)
    errors: list[BaseException] = []

    def stuck_send() -> None:  # holds the send lock for 2 s
        try:
            client.send(Ping(1, 0), timeout_s=2.0)
        except ChannelTimeout as e:
            errors.append(e)

    stuck = threading.Thread(target=stuck_send)
    stuck.start()
    time.sleep(0.1)
    t0 = time.monotonic()
    with pytest.raises(ChannelTimeout):
        client.send(Ping(2, 0))
    assert time.monotonic() - t0 < TIMEOUT_S + 0.5
    stuck.join(5)
    assert len(errors) == 1
    engine.close()
    client.close()


def test_messages_larger_than_the_pipe_go_through_a_reader_that_reads() -> None:
    engine, client = pair(send_timeout_s=5.0)
    big = UserText("y" * 300_000)  # several pipe-fulls: written in parts as the reader makes room
    got: list[object] = []
    reader = threading.Thread(target=lambda: got.extend(engine.recv() for _ in range(2)))
    reader.start()
    client.send(big)
    client.send(Ping(1, 0))
    reader.join(10)
    assert got == [big, Ping(1, 0)]
    engine.close()
    client.close()


def test_a_message_out_in_part_is_finished_when_the_reader_reads_again() -> None:
    """Over PIPE_BUF a message may go in part (macOS: over 512 B). Its rest is written within
    FINISH_GRACE_S after the timeout: cut short, it would break the channel."""
    engine, client = pair()
    big = UserText("z" * 300_000)
    got: list[object] = []

    def late_reader() -> None:
        time.sleep(TIMEOUT_S + 0.3)  # after the send's timeout, within its grace
        got.extend(engine.recv() for _ in range(2))

    reader = threading.Thread(target=late_reader)
    reader.start()
    t0 = time.monotonic()
    client.send(big)  # 64 KiB of it went at once, the rest once the reader is back
    assert time.monotonic() - t0 > TIMEOUT_S
    client.send(Ping(1, 0))
    reader.join(10)
    assert got == [big, Ping(1, 0)]
    engine.close()
    client.close()


def test_a_large_message_cut_short_breaks_the_channel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(channel, "FINISH_GRACE_S", 0.2)
    engine, client = pair()
    t0 = time.monotonic()
    with pytest.raises(ChannelTimeout):
        client.send(UserText("z" * 300_000))  # 64 KiB of it went, then nobody read
    assert TIMEOUT_S + 0.2 - 0.05 < time.monotonic() - t0 < TIMEOUT_S + 0.2 + 0.5
    with pytest.raises(ChannelClosed, match="timed out after"):  # the reader would see half a message
        client.send(Ping(1, 0))
    engine.close()
    client.close()


def test_a_gone_reader_is_closed_not_a_timeout() -> None:
    engine, client = pair()
    engine.close()
    with pytest.raises(ChannelClosed) as e:
        client.send(Ping(1, 0))
    assert not isinstance(e.value, ChannelTimeout)
    client.close()
    with pytest.raises(ChannelClosed):  # a closed channel says so instead of writing anywhere
        client.send(Ping(2, 0))


def test_a_channel_without_send_timeout_ignores_a_per_message_timeout() -> None:
    engine, client = pair(send_timeout_s=None)
    client.send(Ping(1, 0), timeout_s=1.0)  # blocking sends as before (the monitor's pings on Windows)
    client.send(Ping(2, 0))
    assert engine.recv_ready(1.0) == [Ping(1, 0), Ping(2, 0)]
    engine.close()
    client.close()


def test_windows_sends_are_bounded_by_a_writer_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows pipes cannot be polled: a writer thread does the blocking writes, a send waits for
    it at most its timeout. A message that timed out still goes, whole, once the reader reads."""
    monkeypatch.setattr(channel, "_POSIX", False)
    engine, client = pair()
    assert client.send_timeout_s == TIMEOUT_S
    sent = _fill(client, timeout_s=0.05)  # the last one timed out, stuck in the writer
    t0 = time.monotonic()
    with pytest.raises(ChannelTimeout):  # the writer is still on the stuck one
        client.send(Ping(1, 0))
    assert TIMEOUT_S - 0.05 < time.monotonic() - t0 < TIMEOUT_S + 0.5
    with pytest.raises(ChannelTimeout):
        client.send(Ping(2, 0), timeout_s=0.05)  # what the monitor's pings do
    got = [engine.recv() for _ in range(len(sent) + 1)]  # the reader wakes up
    assert got == [*sent, ATOMIC_TEXT]  # and the one that timed out, whole
    client.send(Ping(3, 0))
    assert engine.recv_ready(1.0) == [Ping(3, 0)]
    engine.close()
    with pytest.raises(ChannelClosed) as e:  # a gone reader
        for _ in range(100):  # (the first write after it may still go into the pipe's buffer)
            client.send(Ping(4, 0))
    assert not isinstance(e.value, ChannelTimeout)
    client.close()
    with pytest.raises(ChannelClosed):
        client.send(Ping(5, 0))


def test_close_during_a_send_stops_the_sender_at_once() -> None:
    """close() from another thread (the client's stop) while a send waits for room: the sender
    sees it within 50 ms and writes nothing more; the send end is closed under the send lock."""
    engine, client = pair(send_timeout_s=5.0)
    sent = _fill(client)
    errors: list[BaseException] = []

    def waiting_send() -> None:
        try:
            client.send(Ping(1, 0))
        except ChannelClosed as e:
            errors.append(e)

    sender = threading.Thread(target=waiting_send)
    sender.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    client.close()
    assert time.monotonic() - t0 < 0.5  # it does not wait out the sender's 5 s
    sender.join(1.0)
    assert not sender.is_alive() and time.monotonic() - t0 < 0.5
    assert len(errors) == 1 and not isinstance(errors[0], ChannelTimeout)
    assert client._send.closed
    assert [engine.recv() for _ in sent] == sent
    with pytest.raises(ChannelClosed):  # end of file: nothing of Ping(1) went
        engine.recv_ready(0.5)
    with pytest.raises(ChannelClosed):
        client.send(Ping(2, 0))
    engine.close()


def test_close_leaves_the_send_end_to_a_sender_that_holds_it() -> None:
    """A blocking send (a channel without send timeout) outlasts close()'s short wait: the end
    stays open until the sender lets go, so its descriptor number cannot go to a new pipe (the
    next engine's) while the sender may still write to it."""
    engine, client = pair(send_timeout_s=None)
    big = UserText("b" * 300_000)
    sender = threading.Thread(target=client.send, args=(big,))
    sender.start()
    time.sleep(0.2)  # 64 KiB went; the sender blocks for room, holding the send lock
    t0 = time.monotonic()
    client.close()
    assert time.monotonic() - t0 < 0.5
    assert sender.is_alive() and not client._send.closed  # still the sender's
    assert engine.recv() == big  # the reader reads: the message goes whole
    sender.join(2.0)
    assert not sender.is_alive() and client._send.closed  # closed as the sender let go
    with pytest.raises(ChannelClosed):
        client.send(Ping(2, 0))
    engine.close()

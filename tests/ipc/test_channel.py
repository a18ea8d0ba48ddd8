"""The message channel hands over an engine's last words before it reports the pipe closed."""

from __future__ import annotations

import multiprocessing as mp

import pytest

from engine.ipc.channel import ENGINE_EVENT_TYPES, Channel, ChannelClosed
from engine.protocol import ErrorEvent, Pong


def pair() -> tuple[Channel, Channel]:
    """(engine side, client side): events flow engine -> client."""
    ctx = mp.get_context("spawn")
    ev_recv, ev_send = ctx.Pipe(duplex=False)
    ctl_recv, ctl_send = ctx.Pipe(duplex=False)
    engine = Channel(ctl_recv, ev_send, {})
    client = Channel(ev_recv, ctl_send, ENGINE_EVENT_TYPES)
    return engine, client


def test_messages_read_before_the_pipe_closed_are_delivered_then_closed_is_raised() -> None:
    engine, client = pair()
    last = ErrorEvent("model_load", "no config.json in /x", fatal=True)
    engine.send(Pong(1, 0))
    engine.send(last)
    engine.close()  # the engine process exits right after its last message
    assert client.recv_ready(1.0) == [Pong(1, 0), last]
    with pytest.raises(ChannelClosed):
        client.recv_ready(0.1)
    client.close()


def test_open_channel_returns_what_is_ready_and_waits_only_for_the_first() -> None:
    engine, client = pair()
    assert client.recv_ready(0.01) == []
    for i in range(3):
        engine.send(Pong(i, 0))
    assert client.recv_ready(1.0, max_messages=2) == [Pong(0, 0), Pong(1, 0)]
    assert client.recv_ready(1.0) == [Pong(2, 0)]
    engine.close()
    client.close()

"""EngineClient against a frozen engine process (SIGSTOP: nothing in it runs, its control pipe
fills up), events of a replaced engine, and the mic path never waiting on the frame rings."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from engine.client import SEND_TIMEOUT_S, EngineClient
from engine.ipc.channel import PIPE_BUF
from engine.protocol import EngineDown, Ping, Pong, UserText
from tests.support.engines import ClientFactory

from .helpers import Collector, gone, mic

pytestmark = pytest.mark.linux  # SIGSTOP/SIGCONT freeze the engine process

JOIN_S = 20.0  # a hang guard, not a speed check: a call that blocks forever fails here
# stop() of a frozen engine: Shutdown not sent (or given up after SEND_TIMEOUT_S), then terminate
# (1 s grace: SIGTERM kills a stopped process at once) and kill (2 s)
STOP_S = SEND_TIMEOUT_S + 3.0 + 1.0


class _Clients:
    """client_factory's EngineClients; at teardown it thaws and kills what a test froze (before
    client_factory stops them all and checks nothing is left)."""

    def __init__(self, make: ClientFactory) -> None:
        self.make = make
        self.frozen: list[int] = []

    def __call__(self, model: str = "testecho", **kw: Any) -> EngineClient:
        return self.make(model, **kw)

    def freeze(self, client: EngineClient) -> int:
        pid = client.pid
        assert pid is not None
        self.frozen.append(pid)
        os.kill(pid, signal.SIGSTOP)
        return pid

    def thaw(self) -> None:
        for pid in self.frozen:  # a client that fails to end its engine must not leave it stopped
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                os.kill(pid, signal.SIGCONT)


@pytest.fixture
def clients(client_factory: ClientFactory) -> Iterator[_Clients]:
    made = _Clients(client_factory)
    try:
        yield made
    finally:
        made.thaw()


def _in_thread(fn: Any) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        t0 = time.monotonic()
        try:
            out["result"] = fn()
        except BaseException as e:  # reported to the test
            out["error"] = e
        out["s"] = time.monotonic() - t0

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def _fill_control_pipe(client: EngineClient) -> list[tuple[bool, float]]:
    """Send ~1 KiB control messages (macOS: ~400 B, under its PIPE_BUF) to a frozen engine until one
    is refused (its 64 KiB pipe is full); (sent, seconds) per send. Fails if a send blocks for good."""

    def fill() -> list[tuple[bool, float]]:
        sends = []
        for _ in range(500):  # > the pipe's 64 KiB
            t0 = time.monotonic()
            ok = client.send(UserText("x" * min(1000, PIPE_BUF - 100)))  # whole or not at all
            sends.append((ok, time.monotonic() - t0))
            if not ok:
                break
        return sends

    thread, out = _in_thread(fill)
    thread.join(JOIN_S)
    assert not thread.is_alive(), "a send to a frozen engine blocked (its control pipe is full)"
    sends: list[tuple[bool, float]] = out["result"]
    return sends


def test_a_frozen_engine_with_a_full_control_pipe_is_reported_and_stopped_promptly(clients: _Clients) -> None:
    client = clients(hang_timeout_s=1.0)
    client.start(timeout_s=60)
    pid = clients.freeze(client)
    sends = _fill_control_pipe(client)
    assert sends[-1][0] is False and len(sends) > 10, sends  # refused once ~64 sends filled the pipe
    assert sends[-1][1] < SEND_TIMEOUT_S + 0.5  # ... after waiting SEND_TIMEOUT_S, not forever
    c = Collector(client)
    c.wait(lambda c: c.of(EngineDown), timeout_s=10, media=False)  # the monitor was not stuck either
    assert c.of(EngineDown)[0].reason == "hung"
    thread, out = _in_thread(client.stop)
    thread.join(JOIN_S)
    assert not thread.is_alive(), "stop() of a frozen engine blocked"
    assert "error" not in out and out["s"] < STOP_S
    assert gone(pid) and client.pid is None and not client.alive


def test_stop_before_the_hang_is_noticed_does_not_wait_on_the_full_pipe(clients: _Clients) -> None:
    client = clients(hang_timeout_s=60.0)  # not reported down: stop() tries to send Shutdown
    client.start(timeout_s=60)
    pid = clients.freeze(client)
    _fill_control_pipe(client)
    thread, out = _in_thread(client.stop)
    thread.join(JOIN_S)
    assert not thread.is_alive(), "stop() blocked sending Shutdown into the full pipe"
    assert "error" not in out and out["s"] < STOP_S
    assert gone(pid) and client.pid is None


def test_a_hung_engine_is_no_longer_pinged(clients: _Clients) -> None:
    client = clients(hang_timeout_s=0.5, ping_period_s=0.01)
    client.start(timeout_s=60)
    clients.freeze(client)
    c = Collector(client)
    c.wait(lambda c: c.of(EngineDown), timeout_s=10, media=False)
    sent = client._ping_seq
    time.sleep(0.5)  # 50 ping periods
    # pings into a frozen engine fill its pipe (64 KiB: ~3 min at the app's 0.2 s), then block
    assert client._ping_seq == sent


def test_a_hung_engine_that_comes_back_says_nothing_more(clients: _Clients) -> None:
    client = clients(hang_timeout_s=0.5)
    client.start(timeout_s=60)
    pid = clients.freeze(client)
    assert client.send(Ping(seq=5, sent_ns=0))  # answered only once the engine runs again
    c = Collector(client)
    c.wait(lambda c: c.of(EngineDown), timeout_s=10, media=False)
    os.kill(pid, signal.SIGCONT)  # back after being declared hung: the app has given it up
    time.sleep(1.0)  # its Pong(5) and Health are read meanwhile, and dropped
    assert client.poll_events() == []


def test_unread_events_of_an_engine_are_dropped_when_it_is_replaced(clients: _Clients) -> None:
    client = clients()
    client.start(timeout_s=60)
    assert client.send(Ping(seq=6, sent_ns=0))
    time.sleep(1.0)  # Pong(6) (and Health) queued, not read
    client.restart()
    time.sleep(0.5)  # the new engine's own events (Health) may come; none of the old one
    assert not [e for e in client.poll_events() if isinstance(e, Pong)]
    c = Collector(client)
    c.sync()  # the new engine answers
    assert client.alive


def test_push_mic_does_not_wait_for_a_frame_read_in_progress(clients: _Clients) -> None:
    """push_mic runs in the PortAudio callback (20 ms blocks): it must not wait behind the GUI
    thread's read_frames, whose copy of a full frame ring takes ~13 ms (here made 0.5 s)."""
    client = clients()
    client.start(timeout_s=60)
    rings = client._rings
    assert rings is not None
    in_read = threading.Event()
    frames = rings.avatar_frames
    real_read = frames.read

    def slow_read(*args: Any, **kw: Any) -> list[tuple[int, np.ndarray]]:
        in_read.set()
        time.sleep(0.5)
        return real_read(*args, **kw)

    frames.read = slow_read  # type: ignore[method-assign]
    reader, _ = _in_thread(client.read_frames)
    assert in_read.wait(5)
    t0 = time.monotonic()
    client.push_mic(0, mic(1, False))
    took = time.monotonic() - t0
    reader.join(5)
    assert took < 0.1, f"push_mic waited {took * 1000:.0f} ms for read_frames"

"""EngineClient as on Windows, whose pipes cannot be polled (channel._POSIX = False): its control
sends go through the channel's writer thread. The monitor must still ping, pass events on, and
report a crashed or a frozen engine; no send may block on a frozen one."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time

import pytest

from engine.client import SEND_TIMEOUT_S
from engine.ipc import channel
from engine.protocol import EngineDown, UserText
from tests.support.engines import ClientFactory

from .helpers import Collector

pytestmark = pytest.mark.linux  # SIGKILL/SIGSTOP/SIGCONT on the engine process


@pytest.fixture(autouse=True)
def _as_on_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(channel, "_POSIX", False)


def test_the_monitor_passes_events_on_and_reports_a_crash(client_factory: ClientFactory) -> None:
    client = client_factory(hang_timeout_s=1.0)
    client.start(timeout_s=60)
    c = Collector(client)
    c.sync()  # a Pong: the monitor reads and passes on events after Ready
    time.sleep(2.0)  # > hang_timeout_s: only the monitor's own pings keep it from being "hung"
    c.pump(media=False)
    assert c.of(EngineDown) == [] and client.alive
    assert client._monitor is not None and client._monitor.is_alive()
    pid = client.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    c.wait(lambda c: c.of(EngineDown), timeout_s=10, media=False)
    down = c.of(EngineDown)[0]
    assert down.reason == "crashed" and down.exitcode == -signal.SIGKILL


def test_sends_to_a_frozen_engine_give_up_and_the_hang_is_reported(client_factory: ClientFactory) -> None:
    client = client_factory(hang_timeout_s=1.0)
    client.start(timeout_s=60)
    pid = client.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        times: list[float] = []

        def fill() -> None:
            for _ in range(200):  # 200 KiB: far over the control pipe
                t0 = time.monotonic()
                ok = client.send(UserText("x" * 1000))
                times.append(time.monotonic() - t0)
                if not ok:
                    return

        filling = threading.Thread(target=fill, daemon=True)
        filling.start()
        filling.join(20)  # a hang guard: a send that blocks for good fails here
        assert not filling.is_alive(), "a send to a frozen engine blocked"
        assert len(times) < 200 and max(times) < SEND_TIMEOUT_S + 0.5
        c = Collector(client)
        c.wait(lambda c: c.of(EngineDown), timeout_s=10, media=False)
        assert c.of(EngineDown)[0].reason == "hung"
        t0 = time.monotonic()
        client.stop()
        assert time.monotonic() - t0 < SEND_TIMEOUT_S + 4.0 and client.pid is None
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            os.kill(pid, signal.SIGCONT)

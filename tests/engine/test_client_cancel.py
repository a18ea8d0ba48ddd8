"""Cancelling an EngineClient.start() that is still waiting for the engine to become Ready."""

from __future__ import annotations

import multiprocessing as mp
import threading
import time

from engine.client import EngineClient, EngineStartError
from tests.support.engines import ClientFactory

from .helpers import gone

SLOW = {"slowload": "60"}  # the model's factory sleeps 60 s: start() waits for Ready far longer than a test
JOIN_S = 30.0  # a hang guard, not a speed check: a start() not cancelled would wait on the 60 s load


class _Starter:
    """Runs client.start() (or restart()) on a thread and keeps its result or error."""

    def __init__(self, client: EngineClient, method: str = "start") -> None:
        self.client = client
        self.result: object = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(method,), daemon=True)
        self.thread.start()

    def _run(self, method: str) -> None:
        try:
            self.result = getattr(self.client, method)()
        except BaseException as e:  # reported to the test
            self.error = e

    def wait_spawned(self, timeout_s: float = 30.0) -> int:
        deadline = time.monotonic() + timeout_s
        while self.client.pid is None:
            assert self.thread.is_alive(), f"start() ended early: {self.error!r}"
            assert time.monotonic() < deadline, "the engine process was never spawned"
            time.sleep(0.02)
        return self.client.pid


def test_stop_from_another_thread_cancels_a_pending_start(client_factory: ClientFactory) -> None:
    client = client_factory("testcrash", model_options=SLOW)
    starter = _Starter(client)
    pid = starter.wait_spawned()
    client.stop()  # a stop that let the 60 s load finish would leave start() succeeding: checked below
    starter.thread.join(JOIN_S)
    assert not starter.thread.is_alive()
    assert isinstance(starter.error, EngineStartError) and "cancelled" in str(starter.error)
    assert gone(pid) and client.pid is None and not client.alive
    assert not mp.active_children()


def test_cancel_start_aborts_start_and_the_client_can_start_again(client_factory: ClientFactory) -> None:
    client = client_factory("testcrash", model_options=SLOW)
    starter = _Starter(client)
    pid = starter.wait_spawned()
    client.cancel_start()
    starter.thread.join(JOIN_S)
    assert not starter.thread.is_alive()
    assert isinstance(starter.error, EngineStartError) and "cancelled" in str(starter.error)
    assert gone(pid) and client.pid is None
    # the cancel applied only to the start in flight: a later start works
    client.options.extra["slowload"] = "0"
    ready = client.start(timeout_s=60)
    assert ready.model == "testcrash" and client.alive


def test_cancel_start_without_a_start_in_flight_changes_nothing(client_factory: ClientFactory) -> None:
    client = client_factory("testecho")
    client.cancel_start()  # nothing to cancel
    ready = client.start(timeout_s=60)
    client.cancel_start()  # the engine is running: it stays up
    assert client.alive and client.start() == ready


def test_stop_cancels_a_pending_restart(client_factory: ClientFactory) -> None:
    client = client_factory("testcrash")
    client.start(timeout_s=60)
    client.options.extra["slowload"] = "60"  # the restarted engine loads slowly
    starter = _Starter(client, "restart")
    deadline = time.monotonic() + 30
    while client.ready is not None and time.monotonic() < deadline:  # restart has killed the old one
        time.sleep(0.02)
    pid = starter.wait_spawned()
    client.stop()
    starter.thread.join(JOIN_S)
    assert not starter.thread.is_alive()
    assert isinstance(starter.error, EngineStartError) and "cancelled" in str(starter.error)
    assert gone(pid) and client.pid is None

"""Cancelling an EngineClient.start() that is still waiting for the engine to become Ready."""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
from collections.abc import Iterator

import pytest

from engine.client import EngineClient, EngineStartError

SLOW = {"slowload": "60"}  # the model's factory sleeps 60 s: start() waits for Ready far longer than a test
PROMPT_S = 10.0  # generous bound on "promptly" (the cancel is polled every 50 ms, the kill takes <= 3 s)


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


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
def made() -> Iterator[list[EngineClient]]:
    clients: list[EngineClient] = []
    yield clients
    for client in clients:
        client.stop()
    assert not mp.active_children()


def test_stop_from_another_thread_cancels_a_pending_start(made: list[EngineClient]) -> None:
    client = EngineClient("testcrash", device="cpu", model_options=SLOW)
    made.append(client)
    starter = _Starter(client)
    pid = starter.wait_spawned()
    t0 = time.monotonic()
    client.stop()
    assert time.monotonic() - t0 < PROMPT_S
    starter.thread.join(PROMPT_S)
    assert not starter.thread.is_alive()
    assert isinstance(starter.error, EngineStartError) and "cancelled" in str(starter.error)
    assert _gone(pid) and client.pid is None and not client.alive
    assert not mp.active_children()


def test_cancel_start_aborts_start_and_the_client_can_start_again(made: list[EngineClient]) -> None:
    client = EngineClient("testcrash", device="cpu", model_options=SLOW)
    made.append(client)
    starter = _Starter(client)
    pid = starter.wait_spawned()
    client.cancel_start()
    starter.thread.join(PROMPT_S)
    assert not starter.thread.is_alive()
    assert isinstance(starter.error, EngineStartError) and "cancelled" in str(starter.error)
    assert _gone(pid) and client.pid is None
    # the cancel applied only to the start in flight: a later start works
    client.options.extra["slowload"] = "0"
    ready = client.start(timeout_s=60)
    assert ready.model == "testcrash" and client.alive


def test_cancel_start_without_a_start_in_flight_changes_nothing(made: list[EngineClient]) -> None:
    client = EngineClient("testecho", device="cpu")
    made.append(client)
    client.cancel_start()  # nothing to cancel
    ready = client.start(timeout_s=60)
    client.cancel_start()  # the engine is running: it stays up
    assert client.alive and client.start() == ready


def test_stop_cancels_a_pending_restart(made: list[EngineClient]) -> None:
    client = EngineClient("testcrash", device="cpu")
    made.append(client)
    client.start(timeout_s=60)
    client.options.extra["slowload"] = "60"  # the restarted engine loads slowly
    starter = _Starter(client, "restart")
    deadline = time.monotonic() + 30
    while client.ready is not None and time.monotonic() < deadline:  # restart has killed the old one
        time.sleep(0.02)
    pid = starter.wait_spawned()
    client.stop()
    starter.thread.join(PROMPT_S)
    assert not starter.thread.is_alive()
    assert isinstance(starter.error, EngineStartError) and "cancelled" in str(starter.error)
    assert _gone(pid) and client.pid is None

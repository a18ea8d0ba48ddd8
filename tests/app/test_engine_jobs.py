"""DuetCore's engine jobs on its one-worker pool: a model switch does not wait behind the old
engine's start (which waits up to 120 s for Ready), and an engine the crash policy gives up on is
stopped, not left running (hung) through the pause. Fake clients, no engine process."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from app.core import DuetCore
from engine.client import EngineStartError
from engine.protocol import SessionSpec

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

pytestmark = pytest.mark.gui

START_S = 20.0  # a fake start() waits this long for Ready unless cancelled (the real one: 120 s)


class FakeClient:
    """EngineClient's lifecycle calls; start() blocks until cancel_start() (or START_S)."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.pid: int | None = None
        self.starting = threading.Event()
        self.cancelled = threading.Event()
        self.stopped = threading.Event()
        self.restarts = 0

    def start(self, timeout_s: float = 120.0) -> Any:
        self.starting.set()
        if self.cancelled.wait(START_S):
            raise EngineStartError(f"engine {self.model!r} start cancelled")
        raise EngineStartError(f"engine {self.model!r} was not ready within {START_S:g} s")

    def cancel_start(self) -> None:
        self.cancelled.set()

    def stop(self, timeout_s: float = 3.0) -> None:
        self.cancel_start()  # as the real one: a start in flight is cancelled first
        self.stopped.set()

    def restart(self) -> Any:
        self.restarts += 1
        raise EngineStartError("not in this test")

    def poll_events(self) -> list[object]:
        return []


@pytest.fixture
def core(qapp: QApplication) -> Iterator[tuple[DuetCore, list[FakeClient]]]:
    made: list[FakeClient] = []

    def factory(model: str, source: object) -> FakeClient:
        made.append(FakeClient(model))
        return made[-1]

    core = DuetCore("a", SessionSpec(), client_factory=factory)
    try:
        yield core, made
    finally:
        core.shutdown()


def test_a_model_switch_does_not_wait_for_the_old_engine_to_start(
    core: tuple[DuetCore, list[FakeClient]],
) -> None:
    duet, made = core
    duet._start_engine()
    old = made[0]
    assert old.starting.wait(5)  # the start job waits for Ready on the pool's one worker
    t0 = time.monotonic()
    duet.switch_model("b")
    assert old.stopped.wait(START_S / 2), "the old engine's stop waited behind its start"
    assert time.monotonic() - t0 < 3.0
    assert duet.model == "b" and duet.client is made[1]
    assert made[1].starting.wait(5)  # and the new engine's start runs next


def test_the_engine_given_up_on_is_stopped_during_the_pause(core: tuple[DuetCore, list[FakeClient]]) -> None:
    duet, _ = core
    client = FakeClient("a")  # a hung engine: down, but its process still runs
    duet.client = client
    now = time.monotonic()
    for _ in range(duet.crash_policy.max_crashes - 1):
        duet.crash_policy.times.append(now)
    duet._engine_failed("The engine stopped responding")  # the third failure within 60 s
    assert duet._engine_retry_at is not None and duet.conversation.state == "offline"
    assert client.stopped.wait(5), "the engine was left running through the pause"
    assert client.restarts == 0

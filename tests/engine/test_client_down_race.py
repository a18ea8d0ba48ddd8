"""An old engine's monitor reporting it down must never mark its successor down: the report's
check (still my engine? not reported yet?) and its set are one step with start()'s new generation.
The interleaving is forced: a new engine starts while the old monitor is inside that check."""

from __future__ import annotations

import sys
import threading

from engine.client import EngineClient
from engine.protocol import EngineDown


class _Gen(int):
    """The client's generation counter; comparing it inside _report_down lets `during` run."""

    during: threading.Thread | None = None

    def __ne__(self, other: object) -> bool:
        if sys._getframe(1).f_code.co_name == "_report_down" and self.during is not None:
            self.during.start()  # a new engine starts now, on another thread ...
            self.during.join(0.5)  # ... and gets as far as it can before the report goes on
            _Gen.during = None
        return int(self) != other


def test_a_new_engine_started_during_an_old_monitors_report_is_not_down() -> None:
    client = EngineClient("testecho")
    old = client._gen
    client._gen = _Gen(old)
    starting = threading.Thread(target=client._new_generation)  # what start() does for a new engine
    _Gen.during = starting
    client._report_down(old, "crashed", "engine process killed by signal SIGKILL", -9)
    starting.join(2.0)
    assert not starting.is_alive() and client._gen == old + 1
    assert not client._down  # the new engine is not down: its monitor passes its events on and pings
    assert not [e for e in client.poll_events() if isinstance(e, EngineDown)]


def test_a_report_for_the_current_engine_goes_through_once() -> None:
    client = EngineClient("testecho")
    client._report_down(client._gen, "hung", "no answer", None)
    client._report_down(client._gen, "crashed", "exited", 1)
    downs = [e for e in client.poll_events() if isinstance(e, EngineDown)]
    assert [d.reason for d in downs] == ["hung"] and client._down

"""engine.signals.handling: a handler for a while, and the one before it back."""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType

import pytest

from engine.signals import handling

pytestmark = pytest.mark.linux  # SIGUSR1/SIGUSR2


def test_a_handler_for_a_while_then_the_one_before() -> None:
    got: list[int] = []
    before = signal.getsignal(signal.SIGUSR1)

    def mine(signum: int, frame: FrameType | None) -> None:
        got.append(signum)

    with handling(mine, signal.SIGUSR1):
        os.kill(os.getpid(), signal.SIGUSR1)
    assert got == [signal.SIGUSR1]
    assert signal.getsignal(signal.SIGUSR1) == before


def test_an_ignored_signal_stays_ignored_and_other_threads_change_nothing() -> None:
    old = signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    try:
        with handling(lambda s, f: None, signal.SIGUSR2):
            assert signal.getsignal(signal.SIGUSR2) is signal.SIG_IGN  # a background job's choice
        seen: list[object] = []

        def elsewhere() -> None:
            with handling(lambda s, f: None, signal.SIGUSR1):  # signal.signal would raise here
                seen.append(signal.getsignal(signal.SIGUSR1))

        before = signal.getsignal(signal.SIGUSR1)
        t = threading.Thread(target=elsewhere)
        t.start()
        t.join()
        assert seen == [before]
    finally:
        signal.signal(signal.SIGUSR2, old)

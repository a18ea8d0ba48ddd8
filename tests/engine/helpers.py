"""Helpers for the engine client tests: waiting on events and media without sleeping blindly."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from engine.client import EngineClient
from engine.protocol import MIC_SAMPLES_PER_TICK, Ping, Pong

T = TypeVar("T")

SPEECH = 0.1  # mic amplitude: RMS 0.1 > the echo model's 0.01 threshold


def gone(pid: int) -> bool:
    """The process `pid` no longer exists (ended and reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def mic(n_ticks: int, speech: bool) -> np.ndarray:
    return np.full(n_ticks * MIC_SAMPLES_PER_TICK, SPEECH if speech else 0.0, np.float32)


class Collector:
    """Accumulates a client's events, audio and frames while waiting for a condition."""

    def __init__(self, client: EngineClient) -> None:
        self.client = client
        self.events: list[object] = []
        self.audio: list[tuple[int, np.ndarray]] = []
        self.frames: list[tuple[int, np.ndarray]] = []

    def pump(self, media: bool = True) -> None:
        self.events += self.client.poll_events()
        if media:
            self.audio += self.client.read_audio()
            self.frames += self.client.read_frames()

    def wait(self, cond: Callable[[Collector], object], timeout_s: float = 20.0, media: bool = True) -> float:
        """Pump until cond(self) holds; returns the seconds it took. Fails after timeout_s."""
        t0 = time.monotonic()
        while True:
            self.pump(media)
            if cond(self):
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout_s:
                raise AssertionError(f"condition not met within {timeout_s} s; events: {self.events[-10:]}")
            time.sleep(0.01)

    def sync(self) -> None:
        """Ping round-trip: every control message sent before it has reached the engine (and
        model-bound ones are queued ahead of any unit pushed afterwards)."""
        self.seq = getattr(self, "seq", 0) + 1
        seq = self.seq
        self.client.send(Ping(seq=seq, sent_ns=0))
        self.wait(lambda c: any(isinstance(e, Pong) and e.seq == seq for e in c.events), media=False)

    def of(self, cls: type[T]) -> list[T]:
        return [e for e in self.events if isinstance(e, cls)]

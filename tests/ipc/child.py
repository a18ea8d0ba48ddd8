"""Spawn targets for the IPC tests (importable in a spawned child as tests.ipc.child)."""

from __future__ import annotations

import time
from multiprocessing.connection import Connection

import numpy as np

from engine.ipc import AudioRing, FrameRing
from engine.ipc.doorbell import wait


def pattern_frame(seq: int, h: int, w: int) -> np.ndarray:
    """uint8 (h, w, 3) content that depends on every pixel position and on seq."""
    y, x = np.mgrid[0:h, 0:w]
    base = (y * 7 + x * 13 + seq * 31) % 256
    return np.stack([base, (base + 85) % 256, (base + 170) % 256], axis=-1).astype(np.uint8)


def pattern_audio(tick: int, n_ticks: int, spt: int) -> np.ndarray:
    idx = np.arange(tick * spt, (tick + n_ticks) * spt)
    return (np.sin(idx * 0.01) * 0.5).astype(np.float32)


def echo_child(
    frames_in: str, frames_out: str, audio_in: str, audio_out: str, spt: int, bell: Connection, n: int
) -> None:
    """Read `n` frames and `n` audio blocks, verify nothing, echo each to the out rings in order."""
    fin, fout = FrameRing.attach(frames_in), FrameRing.attach(frames_out)
    ain, aout = AudioRing.attach(audio_in, spt), AudioRing.attach(audio_out, spt)
    got_f = got_a = 0
    deadline = time.monotonic() + 30
    while (got_f < n or got_a < n) and time.monotonic() < deadline:
        wait(bell, 0.05)
        for tick, frame in fin.read(apply_flush=False):
            while not fout.write(tick, frame):  # parent reads continuously; retry if full
                time.sleep(0.001)
            got_f += 1
        for tick, pcm in ain.read(apply_flush=False):
            aout.write(tick, pcm)  # 128 slots: never full in this test
            got_a += 1
    for r in (fin, fout, ain, aout):
        r.close()


def slow_reader_child(ring_name: str, go: Connection, result: Connection) -> None:
    """Attach, wait until told, then report the shared overrun count and what is readable."""
    ring = FrameRing.attach(ring_name)
    go.recv()
    overruns = ring.overruns()
    items = ring.read(apply_flush=False)
    result.send(
        (overruns, [t for t, _ in items], all(np.array_equal(f, pattern_frame(t, 8, 8)) for t, f in items))
    )
    ring.close()


def attach_and_exit(names: list[str]) -> None:
    """Attach to segments and exit without unlinking (the creator owns them)."""
    from engine.ipc.ring import SlotRing

    for name in names:
        SlotRing.attach(name).close()

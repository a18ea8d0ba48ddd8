"""Helpers for tests that drive a RecordingController without a window: the controller, mic ticks
as the audio thread gives them, and waiting for a file's worker (test_study.py, test_disk_budget.py)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.protocol import MIC_SAMPLES_PER_TICK

if TYPE_CHECKING:
    from app.recorder import Recorder
    from app.recording import RecordingController


def controller(folder: Path) -> RecordingController:
    """A controller writing into `folder`, for the testecho model (16-px frames, the script brain)."""
    from app.mic import TickAssembler
    from app.recording import FileInfo, RecordingController

    info = FileInfo("testecho", "guide", "ada", 16, {"brain": "script"})
    return RecordingController(TickAssembler(lambda *_: None), lambda: info, folder=lambda: folder)


def mic(ctl: RecordingController, ticks: int) -> None:
    """`ticks` of silent mic audio (40 ms each) from where the mic stands now."""
    asm = ctl.assembler
    for _ in range(ticks):
        ctl.user_audio(asm.epoch, asm.tick, np.zeros(MIC_SAMPLES_PER_TICK, np.float32))
        asm.tick += 1


def opened(f: Recorder | None) -> Recorder:
    """The file, once its worker has opened it (its name is then final); 10 s at most."""
    assert f is not None
    deadline = time.monotonic() + 10
    while f.path is None and not f.done and time.monotonic() < deadline:
        time.sleep(0.01)
    assert f.path is not None, f.error
    return f

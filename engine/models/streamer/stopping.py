"""Stopping `duet-engine train`: Ctrl-C and SIGTERM end it after a whole step (checkpointed),
a second one at once; running out of memory is one line, not a traceback."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Any

import torch

from engine.signals import handling


class StopNow(KeyboardInterrupt):
    """A second Ctrl-C or SIGTERM: training stops at once (the last checkpoint is kept).
    `code`: the exit status (130 Ctrl-C, 143 SIGTERM, as a shell reports them)."""

    def __init__(self, code: int = 130) -> None:
        super().__init__()
        self.code = code


class TrainOutOfMemory(RuntimeError):
    """Out of memory in training step `step` (1-based); nothing of that step was saved. A
    RuntimeError, as torch's own (callers that caught those still do)."""

    def __init__(self, step: int, cause: BaseException) -> None:
        super().__init__(f"out of memory at step {step} ({cause})")
        self.step = step


def is_out_of_memory(e: BaseException) -> bool:
    """MemoryError, torch's OutOfMemoryError (CUDA), or the CPU allocator's RuntimeError."""
    if isinstance(e, (MemoryError, torch.OutOfMemoryError)):
        return True
    text = str(e)
    return isinstance(e, RuntimeError) and (
        "can't allocate memory" in text or "out of memory" in text.lower()
    )


def exit_code(signum: int | None) -> int:
    """130 for Ctrl-C (SIGINT), 143 for SIGTERM: 128 + the signal, as a shell reports it."""
    return 143 if signum == signal.SIGTERM else 130


class _StopOnCtrlC:
    """The first Ctrl-C (SIGINT) or SIGTERM (`kill`, `timeout`, a service manager stopping it) asks
    training to stop after the step it is in, so that step is checkpointed whole (an optimizer
    update cut in half would leave weights and moments apart); a second one stops at once
    (StopNow), except while a checkpoint is being moved in (then right after it, so no folder is
    left half old, half new). Only in the main thread (where Python delivers signals), and not
    for a signal that is ignored (SIGINT in a job started in the background). The handler only
    sets flags: printing from it could re-enter a stderr write in progress (the progress bar)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self.signum: int | None = None  # the signal that asked to stop
        self.saving = False  # a checkpoint is being written: a second signal waits for it
        self._abort = False  # a second signal came while saving
        self._handling = handling(self._on_sigint, *self.SIGNALS)  # ours while inside `with`

    @property
    def code(self) -> int:
        return exit_code(self.signum)

    def __enter__(self) -> _StopOnCtrlC:
        self._handling.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._handling.__exit__(*exc)

    def _on_sigint(self, signum: int, frame: object) -> None:
        if not self.requested:
            self.requested = True
            self.signum = signum
        elif self.saving:
            self._abort = True
        else:
            raise StopNow(exit_code(signum))

    @contextlib.contextmanager
    def save(self) -> Iterator[None]:
        """Around a checkpoint save: a second signal during it stops training right after it."""
        self.saving = True
        try:
            yield
        finally:
            self.saving = False
        if self._abort:
            raise StopNow(self.code)


def _raise_stop_now(signum: int, frame: object) -> None:
    """SIGTERM outside the training loop (reading the sessions, measuring the accuracy): stop now,
    saying so, rather than die without a word."""
    raise StopNow(exit_code(signum))

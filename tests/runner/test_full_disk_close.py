"""The disk fills up while a session file is being finished: one clear message, naming the file
once, and the runner says the partial session is kept."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest

from engine.protocol import MIC_SAMPLES_PER_TICK
from engine.runner import RunConfig, run_session
from engine.session import SessionWriteError, SessionWriter, read_session

from .test_runner import write_wav

FULL = "No space left on device"


def test_a_full_disk_while_closing_names_the_file_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.mkv"
    w = SessionWriter(path, model="testecho", avatar_size=64)
    for tick in range(10):
        w.add_user_audio(tick, np.full(MIC_SAMPLES_PER_TICK, 0.1, np.float32))

    def full(*_: object) -> None:
        raise OSError(errno.ENOSPC, FULL)

    monkeypatch.setattr(w, "_mux_audio", full)  # the ticks still pending are written in close()
    with pytest.raises(SessionWriteError) as info:
        w.close()
    assert str(info.value) == f"cannot write session file {path}: {FULL}"
    assert info.value.errno == errno.ENOSPC


def test_a_full_disk_at_the_end_of_a_run_says_the_partial_session_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_close = SessionWriter.close

    def close(self: SessionWriter) -> None:
        closed = self._closed
        real_close(self)
        if not closed:
            raise SessionWriteError(
                errno.ENOSPC, f"cannot write session file {self.path}: {FULL}", str(self.path)
            )

    monkeypatch.setattr(SessionWriter, "close", close)
    wav = tmp_path / "in.wav"
    write_wav(wav, [True] * 20)
    out = tmp_path / "out.mkv"
    with pytest.raises(SessionWriteError) as info:
        run_session(RunConfig(model="testecho", input=str(wav), output=str(out)))
    assert str(info.value) == f"cannot write session file {out}: {FULL}; the partial session is kept in {out}"
    monkeypatch.undo()
    assert read_session(out).n_ticks >= 20

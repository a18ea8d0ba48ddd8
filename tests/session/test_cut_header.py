"""A session file cut in its first bytes (a copy that broke off) is said to be truncated or
damaged, not an "Input/output error" that sounds like a failing disk."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from engine.protocol import MIC_SAMPLES_PER_TICK
from engine.session import SessionReadError, SessionWriter, describe, read_session


@pytest.mark.parametrize("read", [read_session, describe])
def test_a_file_cut_to_300_bytes_is_truncated(tmp_path: Path, read: Callable[[Path], object]) -> None:
    path = tmp_path / "s.mkv"
    with SessionWriter(path, model="testecho", avatar_size=64) as w:
        for tick in range(20):
            w.add_user_audio(tick, np.zeros(MIC_SAMPLES_PER_TICK, np.float32))
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(SessionReadError) as info:
        read(path)
    assert str(info.value) == (
        f"{path} is not a readable session file: it is truncated or damaged (300 bytes; FFmpeg found"
        " no complete Matroska header)"
    )

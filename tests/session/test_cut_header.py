"""A session file cut in its first bytes (a copy that broke off) is said to be truncated or
damaged, not an "Input/output error" that sounds like a failing disk; a real I/O error on a whole
file is said as one; a damaged header is not called "not Matroska"."""

from __future__ import annotations

import errno
from collections.abc import Callable
from pathlib import Path

import av
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


def session(tmp_path: Path, ticks: int = 20) -> Path:
    path = tmp_path / "s.mkv"
    with SessionWriter(path, model="testecho", avatar_size=64) as w:
        for tick in range(ticks):
            w.add_user_audio(tick, np.zeros(MIC_SAMPLES_PER_TICK, np.float32))
    return path


@pytest.mark.parametrize("read", [read_session, describe])
def test_an_io_error_on_a_whole_file_is_a_disk_problem_not_a_cut_file(
    tmp_path: Path, read: Callable[[Path], object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real EIO (a failing disk, a USB drive pulled out) on a file large enough to hold a header
    and a first cluster keeps the OS's words; only a file of a few KB is called cut short."""
    path = session(tmp_path)
    assert path.stat().st_size > 20_000

    def eio(name: str, *a: object, **k: object) -> object:
        raise OSError(errno.EIO, "Input/output error", name)

    monkeypatch.setattr(av, "open", eio)
    with pytest.raises(SessionReadError) as info:
        read(path)
    assert str(info.value) == (
        f"{path} is not a readable session file: Input/output error (a disk or drive problem?)"
    )
    path.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(SessionReadError, match=r"truncated or damaged \(3000 bytes;"):
        read(path)


def test_a_file_cut_to_4_bytes_or_with_a_damaged_header_is_not_called_not_matroska(tmp_path: Path) -> None:
    path = session(tmp_path)
    data = path.read_bytes()
    damaged = bytearray(data)
    damaged[5] ^= 0xFF  # inside the EBML header, its 4-byte magic intact
    damaged[6] ^= 0xFF
    cases = {
        data[:4]: f"{path} is not a readable session file: it is truncated or damaged (4 bytes; FFmpeg found"
        " no complete Matroska header)",
        bytes(damaged): f"{path} is not a readable session file: its Matroska header is damaged"
        f" ({len(data)} bytes; FFmpeg: Invalid data found when processing input)",
        bytes(range(256)) * 64: f"{path} is not a readable session file: it is not Matroska, or its header"
        " is damaged (FFmpeg: Invalid data found when processing input)",
    }
    for content, said in cases.items():
        path.write_bytes(content)
        with pytest.raises(SessionReadError) as info:
            read_session(path)
        assert str(info.value) == said

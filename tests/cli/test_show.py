"""`duet-engine show` in-process: one file as before, several in turn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.cli.main import build_parser
from engine.cli.show import cmd_show
from engine.protocol import Transcript
from engine.session import SessionWriter


def show(argv: list[str]) -> int:
    """`duet-engine show ARGV` in this process (without main(): it would add a logging handler
    to the root logger for the rest of the test session)."""
    return cmd_show(build_parser().parse_args(["show", *argv]))


def write(path: Path, ticks: int, text: str) -> None:
    with SessionWriter(path, model="lite", persona="guide", avatar="ada", avatar_size=16) as w:
        for t in range(ticks):
            w.add_user_audio(t, np.zeros(640, np.float32))
            w.add_avatar_audio(t, None)
        w.add_event(2, "engine", Transcript(2, "user", text, True))


def test_show_several_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a.mkv", tmp_path / "b.mkv"
    write(a, 10, "first")
    write(b, 20, "second")
    assert show([str(a)]) == 0
    one = capsys.readouterr().out
    assert one.startswith(f"{a.resolve()}: 0.40 s (10 ticks)") and "user  : first" in one

    assert show([str(a), str(b)]) == 0
    both = capsys.readouterr().out
    assert both.startswith(one) and both[len(one) :].startswith(f"\n{b.resolve()}: 0.80 s (20 ticks)")

    assert show(["--json", str(a)]) == 0
    assert json.loads(capsys.readouterr().out)["ticks"] == 10  # one file: one object, as before
    assert show(["--json", str(a), str(tmp_path / "gone.mkv"), str(b)]) == 1
    out = capsys.readouterr()
    assert [d["ticks"] for d in json.loads(out.out)] == [10, 20]  # several: a list of those read
    assert out.err == f"duet-engine: error: session file not found: {tmp_path / 'gone.mkv'}\n"

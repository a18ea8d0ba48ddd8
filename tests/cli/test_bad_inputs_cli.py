"""Bad inputs to `duet-engine`: what they are, in words, with the right exit status."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.bench import streamer as bench

from .test_cli import assert_one_line_error, run_echo


@pytest.mark.linux  # /dev/null
def test_dev_null_is_not_an_input_file(tmp_path: Path) -> None:
    p = run_echo(Path("/dev/null"), "--output", str(tmp_path / "o.mkv"))
    assert_one_line_error(
        p, "the input /dev/null is a character device, not a regular, readable audio or video file"
    )
    assert "not found" not in p.stderr and not (tmp_path / "o.mkv").exists()


@pytest.mark.linux  # os.mkfifo
def test_a_pipe_is_not_an_input_file(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    p = run_echo(fifo, "--output", str(tmp_path / "o.mkv"))
    assert_one_line_error(p, f"the input {fifo} is a pipe, not a regular")


def test_a_missing_input_is_still_not_found(tmp_path: Path) -> None:
    p = run_echo(tmp_path / "nope.wav", "--output", str(tmp_path / "o.mkv"))
    assert_one_line_error(p, f"input file not found: {tmp_path / 'nope.wav'}")


def test_bench_with_bad_weights_exits_1_as_run_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text("{}")
    (bad / "pytorch_model.bin").write_bytes(b"\x80\x04x")
    assert bench.main(["--weights", str(bad), "--device", "cpu", "--units", "1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("duet-engine bench streamer: error: ") and "pickle-based checkpoints" in err
    assert bench.main(["--size", "XXL", "--device", "cpu"]) == 2  # a usage error stays 2

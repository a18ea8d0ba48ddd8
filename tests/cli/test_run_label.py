"""`duet-engine run/demo --label`: the study's label in the default file name and the metadata."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.cli.main import _default_output, main


def test_the_default_output_name_carries_the_label(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DUET_SESSIONS_DIR", str(tmp_path))
    name = Path(_default_output("run", "P03 cond/B")).name
    assert re.fullmatch(r"run-\d{4}-\d\d-\d\d-\d{6}-P03-cond-B\.mkv", name), name
    assert re.fullmatch(r"demo-\d{4}-\d\d-\d\d-\d{6}\.mkv", Path(_default_output("demo")).name)


def test_a_label_with_nothing_for_a_file_name_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wav = tmp_path / "in.wav"
    wav.write_bytes(b"RIFF")
    assert main(["run", "--input", str(wav), "--label", "###"]) == 2
    assert "--label" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.mkv"))


def test_the_label_is_in_the_runs_metadata() -> None:
    from engine.protocol import SessionSpec
    from engine.runner.run import RunConfig, run_meta

    cfg = RunConfig(model="lite", input="in.wav", output="out.mkv", label="P03 condB")
    assert run_meta(cfg, SessionSpec(), "cpu", 4, 1)["label"] == "P03 condB"
    assert "label" not in run_meta(RunConfig("lite", "in.wav", "out.mkv"), SessionSpec(), "cpu", 4, 1)

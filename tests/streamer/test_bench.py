"""`duet-engine bench streamer` prints one JSON object with step times and memory samples."""

from __future__ import annotations

import json

import pytest

from engine.bench import streamer as bench


@pytest.mark.parametrize("extra", [[], ["--core"]])
def test_bench_prints_json(extra: list[str], capsys: pytest.CaptureFixture) -> None:
    assert (
        bench.main(
            ["--size", "S", "--device", "cpu", "--units", "6", "--warmup", "1", "--threads", "1", *extra]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["size"] == "S" and result["units"] == 6 and result["device"] == "cpu"
    assert result["step_ms"]["p50"] > 0 and result["step_ms"]["p99"] >= result["step_ms"]["p50"]
    assert result["memory"]["samples"] and "rss_growth_mb" in result["memory"]
    assert result["path"] == ("core" if extra else "model.step")


def test_bench_bad_arguments(capsys: pytest.CaptureFixture) -> None:
    assert bench.main(["--size", "XXL", "--device", "cpu"]) == 2
    assert "unknown streamer size" in capsys.readouterr().err
    assert bench.main(["--size", "S", "--device", "cpu", "--cuda-graph", "--units", "1"]) == 2
    assert "CUDA" in capsys.readouterr().err

"""`duet-engine` through its installed console script: models, run, demo, and one-line errors."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
import subprocess
import sys
import wave
from importlib.metadata import version
from pathlib import Path

import av
import numpy as np
import pytest

from engine.cli.main import BENCHES, build_parser, passthrough
from engine.protocol import SessionOpened, continues_sentence
from engine.session import read_session
from tests.support.paths import a_file

ROOT = Path(__file__).resolve().parents[2]
EXE = Path(sys.executable).parent / "duet-engine"


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EXE), *args], capture_output=True, text=True, timeout=timeout, env=dict(os.environ)
    )


def run_echo(source: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """`duet-engine run --model testecho --input SOURCE EXTRA...`."""
    return cli("run", "--model", "testecho", "--input", str(source), *extra)


def write_wav(path: Path, seconds: float = 0.6) -> None:
    n = int(16000 * seconds)
    x = (0.3 * np.sin(2 * np.pi * 300 * np.arange(n) / 16000) * 32767).astype(np.int16)
    with av.open(str(path), "w") as c:
        s = c.add_stream("pcm_s16le", rate=16000, layout="mono")
        f = av.AudioFrame.from_ndarray(x.reshape(1, -1), format="s16", layout="mono")
        f.sample_rate, f.pts = 16000, 0
        for p in [*s.encode(f), *s.encode(None)]:
            c.mux(p)


def assert_one_line_error(p: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert p.returncode == 1, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) >= 1 and lines[0].startswith("duet-engine: error: "), p.stderr
    assert "Traceback" not in p.stderr
    for n in needles:
        assert n in p.stderr


def test_console_script_is_installed() -> None:
    assert EXE.is_file(), f"{EXE} missing: is the package installed (pip install -e .)?"


def test_models_lists_user_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUET_EXTRA_MODELS", "mine=tests.support.models:EchoTestModel")
    p = cli("models")
    assert p.returncode == 0, p.stderr
    names = [line.split()[0] for line in p.stdout.strip().splitlines()]
    assert names == ["lite", "streamer", "mine"]  # one's own model, not the test models
    assert "from DUET_EXTRA_MODELS: tests.support.models:EchoTestModel" in p.stdout
    p = cli("models", "--json", "--all")
    rows = json.loads(p.stdout)
    by_name = {r["name"]: r for r in rows}
    assert by_name["streamer"]["needs_weights"] is True
    assert by_name["testecho"]["hidden"] is True
    assert all(r["description"] for r in rows)
    assert by_name["lite"]["options"] == ["frame_size"]  # what --model-option takes
    assert "allow_untrained" in by_name["streamer"]["options"]
    assert "(--model-option frame_size)" in cli("models").stdout.splitlines()[0]


def test_voices_lists_the_persona_voice_ids() -> None:
    from engine.models.lite.voice import list_voices

    p = cli("voices")
    assert p.returncode == 0, p.stderr
    ids = [line.split()[0] for line in p.stdout.strip().splitlines()]
    assert ids == list_voices() and "joe" in ids
    rows = json.loads(cli("voices", "--json").stdout)
    assert [r["id"] for r in rows] == ids and all(r["description"] for r in rows)


def test_run_writes_a_session_and_prints_json(tmp_path: Path) -> None:
    wav = tmp_path / "in.wav"
    write_wav(wav)
    out = tmp_path / "out" / "s.mkv"
    p = run_echo(wav, "--output", str(out), "--tail-s", "0.2")
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert summary["path"] == str(out.resolve()) and summary["model"] == "testecho"
    assert summary["ticks"] == 24 and summary["input_ticks"] == 20
    assert {"wall_s", "rtf", "events", "overruns"} <= set(summary)
    d = read_session(out)
    assert d.n_ticks == 24 and d.user_pcm.shape == (24 * 640,) and d.avatar_pcm.shape == (24 * 960,)
    assert Path(summary["events_path"]).is_file()

    p = cli("show", str(out), "--json")
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    assert info["ticks"] == 24 and info["meta"]["model"] == "testecho" and not info["truncated"]
    assert info["meta"]["persona"] == "guide" and info["meta"]["avatar"] == "ada"
    kinds = {t["kind"]: t for t in info["tracks"]}
    assert set(kinds) == {"audio:user", "audio:avatar", "video:avatar"}
    assert kinds["audio:avatar"]["duration_s"] == 0.96 and kinds["video:avatar"]["frames"] == 20
    assert info["events"]["Timings"] == 5  # one per unit of 4 ticks
    assert info["event_types"]["timings"] == 5 and not info["events_missing"]  # as the JSONL names them
    assert info["events_after_end"] == 0 and info["conversation_after_end"] == 0
    assert any(c["side"] == "user" for c in info["conversation"])
    p = cli("show", str(out))
    assert p.returncode == 0 and "audio:user" in p.stdout
    events = Path(summary["events_path"])
    lines = events.read_text().splitlines(keepends=True)
    events.write_text("".join([lines[0], "garbage\n", *lines[1:]]))  # one damaged line
    p = cli("show", str(out))
    assert p.returncode == 0 and "(1 unreadable line(s) skipped)" in p.stdout, p.stdout
    assert "duet-engine: warning: " in p.stderr and "line 2" in p.stderr
    events.unlink()
    p = cli("show", str(out))
    assert p.returncode == 0 and "events: none (s.events.jsonl is missing beside it)" in p.stdout
    assert "s.events.jsonl is missing" in p.stderr  # a warning, as for damaged lines
    info = json.loads(cli("show", str(out), "--json").stdout)
    assert info["events_missing"] and info["events"] == {}  # a script can tell "none" from "lost"


def test_demo_writes_into_the_sessions_folder(tmp_path: Path) -> None:
    p = cli("demo", "--model", "testecho", "--tail-s", "0.2")
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)  # stdout is one JSON object, as for run
    last = p.stderr.strip().splitlines()[-1]  # the conversation, then where the file is
    assert last == f"demo session written: {summary['path']}"
    path = Path(summary["path"])
    assert path.parent == (tmp_path / "data" / "sessions").resolve()
    assert re.fullmatch(r"demo-\d{4}-\d{2}-\d{2}-\d{6}\.mkv", path.name)  # named like the app's files
    d = read_session(path)
    assert d.n_ticks >= 75  # the shipped user turn is ~3 s
    assert np.abs(d.user_pcm).max() > 0.1  # it speaks


def test_demo_prints_the_conversation_as_show_lists_it(tmp_path: Path) -> None:
    """The default demo (lite): the captions on stderr are `show`'s lines, a sentence the voice said
    in parts on one line."""
    out = tmp_path / "demo.mkv"
    p = cli("demo", "--output", str(out))
    assert p.returncode == 0, p.stderr
    said = [ln for ln in p.stderr.splitlines() if re.match(r"\[ *\d+\.\d\d s\] (user|avatar)", ln)]
    avatar = [ln.split(": ", 1)[1] for ln in said if "] avatar" in ln]
    assert any(ln.split("] ", 1)[1].startswith("user") for ln in said) and avatar, p.stderr
    assert not any(continues_sentence(t) for t in avatar), avatar  # no sentence broken over lines
    shown = cli("show", str(out))
    assert shown.returncode == 0
    assert [ln.strip() for ln in shown.stdout.splitlines() if ln.strip().startswith("[")] == said


def test_user_errors_are_one_line(tmp_path: Path) -> None:
    assert_one_line_error(run_echo(tmp_path / "nope.wav"), "nope.wav")
    wav = tmp_path / "in.wav"
    write_wav(wav, 0.2)
    assert_one_line_error(cli("run", "--model", "nosuch", "--input", str(wav)), "unknown model 'nosuch'")
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF" + b"\0" * 100)
    assert_one_line_error(run_echo(junk), "junk.wav")
    assert_one_line_error(run_echo(wav, "--say", "soon"), "--say")
    blocker = a_file(tmp_path)
    assert_one_line_error(
        run_echo(wav, "--output", str(blocker / "s.mkv")),
        str(blocker),
    )
    assert_one_line_error(run_echo(wav, "--output", str(tmp_path / "s.mp4")), ".mkv")
    p = cli("bench", "nosuch")
    assert p.returncode == 2 and "invalid choice" in p.stderr
    for bad in ("-1", "soon", "nan", "inf"):
        p = run_echo(wav, "--tail-s", bad)
        assert p.returncode == 2 and "--tail-s" in p.stderr and "Traceback" not in p.stderr
    for bad in ("0", "inf", "nan"):
        assert_one_line_error(run_echo(wav, "--max-s", bad), "--max-s")
    p = cli("run", "--model", "streamer", "--input", str(wav), "--model-option", "alow_untrained=1")
    assert_one_line_error(p, "model 'streamer' has no option 'alow_untrained' (its options: allow_untrained,")
    p = cli("run", "--model", "streamer", "--input", str(wav), "--model-option", "allow_untrained=maybe")
    assert_one_line_error(p, "model 'streamer' option allow_untrained='maybe' is not on/off (use 1 or 0)")
    for option, problem in (("dtype=bf16", "must be one of float32"), ("size=XL", "must be one of S, M, L")):
        p = cli("run", "--model", "streamer", "--input", str(wav), "--model-option", option)
        assert_one_line_error(p, problem)
    args = ("--model-option", "size=M", "--model-option", "allow_untrained=1", "--input", str(wav))
    p = cli("run", "--model", "streamer", "--weights", str(tmp_path / "nope"), *args)
    note, error = p.stderr.strip().splitlines()[:2]
    assert note == (
        "duet-engine: note: --model-option size ignored: the weights' config.json decides"
        " (it shapes only an untrained model)"
    )
    assert p.returncode == 1 and error.startswith("duet-engine: error: ") and "no such folder" in error
    assert_one_line_error(run_echo(tmp_path), "is a folder")
    empty = tmp_path / "empty.wav"  # a valid header, no samples
    with wave.open(str(empty), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
    out = tmp_path / "nothing.mkv"
    p = run_echo(empty, "--output", str(out))
    assert_one_line_error(p, "no audio samples or video frames")
    p = run_echo(empty, "--output", str(out), "--max-s", "5")
    assert_one_line_error(p, "no audio samples or video frames")  # found once the engine runs
    assert not out.exists() and not (tmp_path / "nothing.events.jsonl").exists()


def test_bench_and_train_dispatch_table() -> None:
    assert sorted(BENCHES) == ["faults", "gpu", "ipc", "lite", "streamer"]
    for kind, target in BENCHES.items():  # every entry names a callable `main` of its own module
        mod, func = target.split(":")
        assert mod == f"engine.bench.{kind}" and callable(getattr(importlib.import_module(mod), func))
    assert passthrough(["bench", "ipc", "--frames", "10", "--help"]) == (
        "engine.bench.ipc:main",
        "benchmark 'ipc'",
        ["--frames", "10", "--help"],
    )
    assert passthrough(["train", "--steps", "5"]) == (
        "engine.models.streamer.train:main",
        "training",
        ["--steps", "5"],
    )
    assert passthrough(["bench", "nosuch"]) is None and passthrough(["run"]) is None
    assert build_parser().parse_args(["bench", "lite"]).kind == "lite"


def module(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -m engine.cli.main ARGS` (the same entry point as the console script)."""
    return subprocess.run(
        [sys.executable, "-m", "engine.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ),
        cwd=ROOT,
    )


def test_python_dash_m_engine_cli_main_runs_the_cli(tmp_path: Path) -> None:
    p = module("models", "--json", "--all")
    assert p.returncode == 0, p.stderr
    assert "Warning" not in p.stderr  # runpy warns when the package imported the module first
    rows = json.loads(p.stdout)
    assert rows == json.loads(cli("models", "--json", "--all").stdout)  # same as `duet-engine`
    names = [r["name"] for r in rows]
    assert names[:2] == ["lite", "streamer"] and "testecho" in names
    # a user error keeps the console script's exit code and one-line message
    p = module("show", str(tmp_path / "missing.mkv"))
    assert p.returncode == 1 and not p.stdout
    assert f"duet-engine: error: session file not found: {tmp_path / 'missing.mkv'}" in p.stderr
    assert "Traceback" not in p.stderr
    assert module("bench", "nosuch").returncode == 2  # argparse usage error


def test_run_shows_the_personas_own_avatar(tmp_path: Path) -> None:
    """No --avatar: the persona's own (booth names max), in the file and in what the engine opened."""
    wav = tmp_path / "in.wav"
    write_wav(wav, 0.2)
    out = tmp_path / "booth.mkv"
    to_out = ("--output", str(out))
    p = run_echo(wav, *to_out, "--persona", "booth")
    assert p.returncode == 0, p.stderr
    d = read_session(out)
    assert d.meta["persona"] == "booth" and d.meta["avatar"] == "max"
    opened = [m for _, _, m in d.events if isinstance(m, SessionOpened)]
    assert [(m.persona, m.avatar) for m in opened] == [("booth", "max")]
    before = out.read_bytes()
    p = run_echo(wav, *to_out, "--avatar", "ada")
    assert p.returncode == 1 and p.stderr.strip() == (
        f"duet-engine: error: {out} already exists: pick another --output, or --overwrite to replace it"
    )
    assert out.read_bytes() == before  # a session is never replaced by accident
    p = run_echo(wav, *to_out, "--avatar", "ada", "--overwrite")
    assert p.returncode == 0 and read_session(out).meta["avatar"] == "ada"  # a chosen one wins
    p = run_echo(out, *to_out, "--overwrite")
    assert p.returncode == 1 and "the output is the input file" in p.stderr
    assert read_session(out).meta["avatar"] == "ada"  # untouched
    both = out.read_bytes(), out.with_name("booth.events.jsonl").read_bytes()
    p = run_echo(wav, *to_out, "--overwrite", "--echo-delay-ms", "-50")
    assert_one_line_error(p, "echo delay must be 0..2000 ms, got -50")
    assert (out.read_bytes(), out.with_name("booth.events.jsonl").read_bytes()) == both  # checked first
    for typo in (("--avatar", "adaa"), ("--persona", "nosuch")):  # checked before the file is opened
        p = run_echo(wav, *to_out, "--overwrite", *typo)
        assert_one_line_error(p, f"{typo[1]!r}")
        assert (out.read_bytes(), out.with_name("booth.events.jsonl").read_bytes()) == both


def test_model_warnings_are_said_once_and_the_file_says_how_it_was_run(tmp_path: Path) -> None:
    """A non-fatal model error (lite: the chat server did not answer) does not stop the run, but it
    is said on stderr (once) and kept in the summary; the file's metadata records the conditions."""
    wav = tmp_path / "in.wav"
    write_wav(wav, 1.0)
    out = tmp_path / "w.mkv"
    p = cli(
        "run", "--model", "testcrash", "--input", str(wav), "--output", str(out), "--say", "0.2:warn",
        "--say", "0.5:warn", "--tail-s", "0.5",
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert p.stderr.splitlines().count("duet-engine: warning: test: the test model warns") == 1
    assert json.loads(p.stdout)["warnings"] == ["test: the test model warns"]
    meta = read_session(out).meta
    assert meta["input"] == "in.wav" and meta["brain"] == "script" and meta["unit_ticks"] == "4"
    assert meta["device"] == "cpu" and "llm_url" not in meta
    assert meta["duet_version"] == version("duet-avatar")
    assert len(meta["created"]) == len("2026-12-01T20:00:00.000+00:00")  # to the millisecond
    assert meta["tail_s"] == "0.5" and meta["realtime"] == "false" and meta["echo_delay_ms"] == "0"
    assert meta["output_lag_units"] == "1" and meta["model_options"] == "{}"
    guide = (ROOT / "assets" / "personas" / "guide.yaml").read_bytes()
    assert meta["persona_sha256"] == hashlib.sha256(guide).hexdigest()[:16]
    shown = cli("show", str(out)).stdout.splitlines()  # `show` says how it was run and what went wrong
    assert "  brain script, device cpu, input in.wav" in shown
    settings = next(line for line in shown if line.startswith("  unit_ticks 4, output_lag_units 1,"))
    assert "realtime false" in settings and "tail_s 0.5" in settings and "echo_gain 0" in settings
    assert f"persona_sha256 {meta['persona_sha256']}" in settings
    assert "  error: test: the test model warns" in shown
    assert not any("playback lag" in line for line in shown)  # the runner has no speaker
    typed = [line for line in shown if line.endswith("] user (typed): warn")]  # typed, not heard
    assert len(typed) == 2, shown


def test_an_engine_crash_is_one_line_and_keeps_the_session(tmp_path: Path) -> None:
    """The engine is SIGKILLed mid-run: exactly one line on stderr (no stray log record), exit 1,
    and the partial session it names is readable."""
    wav = tmp_path / "in.wav"
    write_wav(wav, 3.0)
    out = tmp_path / "crash.mkv"
    p = cli("run", "--model", "testcrash", "--input", str(wav), "--output", str(out), "--say", "1:crash")
    assert_one_line_error(p, "engine crashed", f"the partial session is kept in {out}")
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert read_session(out).n_ticks >= 20


def test_warnings_of_in_process_work_reach_stderr_once(capsys: pytest.CaptureFixture[str]) -> None:
    """bench lite and train run model code in this process: its warnings are shown; the engine
    client's own "engine crashed" is not (the command reports that as its one-line error)."""
    import logging

    import engine.cli.main as cli_main

    root = logging.getLogger()
    before = list(root.handlers)  # (tests/conftest.py puts the handlers and levels back afterwards)
    cli_main._log_warnings_to_stderr()
    cli_main._log_warnings_to_stderr()  # idempotent: one handler
    added = [h for h in root.handlers if h not in before]
    assert len(added) == 1
    logging.getLogger("engine.models.lite.speaker").warning("piper took 900 ms")
    logging.getLogger("engine.models.lite.speaker").info("not shown")
    logging.getLogger("duet.client").error("engine crashed: killed")
    assert capsys.readouterr().err == "duet-engine: warning: piper took 900 ms\n"

"""`duet-engine run` with settings that are wrong or race: each is one clear line, checked before a
file is made, and no run ever writes over another's session."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from engine.cli import main as cli_main
from engine.runner.output import reserve_output
from engine.session import SessionWriteError, read_session

from .test_cli import EXE, assert_one_line_error, cli, run_echo, write_wav


@pytest.fixture
def wav(tmp_path: Path) -> Path:
    path = tmp_path / "in.wav"
    write_wav(path, 0.4)
    return path


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (("--say", "inf:hi"), "--say needs SECONDS:TEXT"),
        (("--say", "nan:hi"), "--say needs SECONDS:TEXT"),
        (("--operator", "1:   "), "--operator needs SECONDS:TEXT"),
        (("--echo-gain", "nan"), "echo gain must be 0..10"),
        (("--echo-gain", "-0.5"), "echo gain must be 0..10"),
        (("--echo-delay-ms", "inf"), "echo delay must be 0..2000 ms"),
        (("--persona", "nosuch"), "persona 'nosuch' not found"),
        (("--avatar", "nosuch"), "unknown avatar 'nosuch'"),
        (("--brain", "llm"), "--brain llm needs --llm-url"),
    ],
)
def test_a_bad_setting_is_one_line_and_makes_no_file(
    tmp_path: Path, wav: Path, flags: tuple[str, str], needle: str
) -> None:
    out = tmp_path / "s.mkv"
    assert_one_line_error(run_echo(wav, "--output", str(out), *flags), needle)
    assert sorted(tmp_path.iterdir()) == [wav]  # nothing made: the corrected rerun is not blocked
    assert run_echo(wav, "--output", str(out), "--tail-s", "0").returncode == 0


def test_a_persona_naming_a_voice_or_avatar_that_is_not_there_makes_no_file(
    tmp_path: Path, wav: Path
) -> None:
    """The persona's `voice:` and `avatar:` are checked before any file is made (not when the engine
    opens the session, which would leave a partial session that blocks the rerun), and the error
    names the persona file and the line to fix."""
    from engine.paths import assets_dir

    booth = (assets_dir() / "personas" / "booth.yaml").read_text(encoding="utf-8")
    persona, out = tmp_path / "mine.yaml", tmp_path / "s.mkv"
    for old, new, needle in [
        ("voice: joe\n", "voice: joe-warmm\n", ":10: unknown voice 'joe-warmm' (did you mean 'joe-warm'?)"),
        ("avatar: max\n", "avatar: maxx\n", ":12: unknown avatar 'maxx' (did you mean 'max'?)"),
        ("  - name: demo\n", "  - name: product\n",
         ":36: intents[1]: the intent name 'product' is also used at line 29"),
    ]:  # fmt: skip
        assert old in booth
        persona.write_text(booth.replace(old, new), encoding="utf-8")
        assert_one_line_error(
            run_echo(wav, "--output", str(out), "--persona", str(persona)), f"{persona}{needle}"
        )
        assert sorted(tmp_path.iterdir()) == [wav, persona]  # nothing made
    persona.write_text(booth.replace("voice: joe\n", "voice:\n"), encoding="utf-8")  # empty: the avatar's
    assert run_echo(wav, "--output", str(out), "--persona", str(persona), "--tail-s", "0").returncode == 0


def test_a_broken_avatar_file_is_one_line_naming_its_line(
    tmp_path: Path, wav: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PyYAML's several-line messages ("while scanning for the next token" ...) become one line with
    the file, the line and what to do; a key given twice is refused, not silently the last one."""
    import shutil

    from engine.paths import assets_dir

    assets = tmp_path / "assets"
    shutil.copytree(assets_dir(), assets)
    monkeypatch.setenv("DUET_ASSETS_DIR", str(assets))
    ada = (assets / "avatars" / "ada.yaml").read_text(encoding="utf-8")
    iris = next(i for i, line in enumerate(ada.splitlines(), 1) if line.startswith("  iris:"))
    voice = next(i for i, line in enumerate(ada.splitlines(), 1) if line.startswith("voice:"))
    out = tmp_path / "s.mkv"
    for name, old, new, needle in [
        ("tabbed", "  iris:", "\tiris:",
         f":{iris}: invalid YAML: tabs are not allowed for indentation: use spaces"),
        ("twice", "  iris: [74, 132, 108]\n", "  iris: [74, 132, 108]\n  iris: [255, 0, 0]\n",
         f":{iris + 1}: duplicate key 'iris' (also at line {iris}): keep one of them"),
        ("voiced", "voice: joe-bright", "voice: joe-brite", f":{voice}: voice: unknown voice 'joe-brite'"),
    ]:  # fmt: skip
        path = assets / "avatars" / f"{name}.yaml"
        path.write_text(ada.replace("id: ada", f"id: {name}").replace(old, new), encoding="utf-8")
        p = run_echo(wav, "--output", str(out), "--avatar", name)
        assert_one_line_error(p, f"duet-engine: error: {path}{needle}")
        assert len(p.stderr.strip().splitlines()) == 1, p.stderr
        assert not out.exists() and not out.with_name("s.events.jsonl").exists()


def test_a_bad_lite_frame_size_is_one_line_and_makes_no_file(tmp_path: Path, wav: Path) -> None:
    out = tmp_path / "s.mkv"
    for bad in ("3", "2.5", "-4", "0", "1024", "big"):
        p = cli("run", "--model", "lite", "--input", str(wav), "--output", str(out), "--model-option",
                f"frame_size={bad}")  # fmt: skip
        assert_one_line_error(p, f"frame_size='{bad}' must be whole pixels in 64..512")
        assert not out.exists() and not out.with_name("s.events.jsonl").exists()


def test_tail_has_an_upper_bound(tmp_path: Path, wav: Path) -> None:
    p = run_echo(wav, "--output", str(tmp_path / "s.mkv"), "--tail-s", "1e9")
    assert p.returncode == 2 and "at most 3600 s of silence after the input" in p.stderr
    assert not (tmp_path / "s.mkv").exists()


def test_a_line_timed_after_the_end_is_a_warning(tmp_path: Path, wav: Path) -> None:
    p = run_echo(wav, "--output", str(tmp_path / "s.mkv"), "--tail-s", "0.2", "--say", "0.1:early",
                 "--say", "5:too late")  # fmt: skip
    assert p.returncode == 0, p.stderr
    warning = "--say 5:too late was not sent: the input (and its tail) ended at 0.64 s"
    assert f"duet-engine: warning: {warning}" in p.stderr.splitlines()
    cut = (
        "the avatar was still speaking when --tail-s 0.2 ended: the file cuts its answer short"
        " (give a longer --tail-s)"
    )
    assert json.loads(p.stdout)["warnings"] == [cut, warning]  # testecho speaks on after a typed line


def test_an_answer_cut_short_by_the_auto_tail_is_a_warning(tmp_path: Path, wav: Path) -> None:
    """testecho goes on 'speaking' after a typed line: the auto tail stops at its maximum, and the
    summary says the file ends mid-answer."""
    p = run_echo(wav, "--output", str(tmp_path / "s.mkv"), "--say", "0.1:hello")
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert summary["tail_s"] >= 30.0
    cut = (
        "the avatar was still speaking when the 30 s tail ended: the file cuts its answer short"
        " (give a longer --tail-s)"
    )
    assert summary["warnings"] == [cut] and f"duet-engine: warning: {cut}" in p.stderr.splitlines()
    p = run_echo(wav, "--output", str(tmp_path / "t.mkv"), "--tail-s", "0.5")
    assert json.loads(p.stdout)["warnings"] == []  # nothing typed: the echo is done, nothing cut


def test_an_output_name_is_taken_by_one_run_only(tmp_path: Path) -> None:
    """Without --overwrite the output and its events file are made exclusively before the engine
    starts: a second run given the same new name is refused, whichever gets there first."""
    out = tmp_path / "s.mkv"
    made = reserve_output(out, "in.wav", overwrite=False)
    assert made == [out, tmp_path / "s.events.jsonl"] and all(p.stat().st_size == 0 for p in made)
    with pytest.raises(SessionWriteError, match="already exists") as e:
        reserve_output(out, "in.wav", overwrite=False)
    assert e.value.filename == str(out)
    with pytest.raises(SessionWriteError, match=r"already exists \(another run just took the name\?\)"):
        race = tmp_path / "race.mkv"
        real_exists = Path.exists

        def exists(self: Path, **kwargs: bool) -> bool:
            if self == race:  # free when checked ...
                race.touch()  # ... and taken by another run a moment later
                return False
            return real_exists(self, **kwargs)

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(Path, "exists", exists)
            reserve_output(race, "in.wav", overwrite=False)
    assert race.is_file() and not (tmp_path / "race.events.jsonl").exists()  # the other run's, kept
    with pytest.raises(ValueError, match=r"needs a name before \.mkv"):
        reserve_output(tmp_path / ".mkv", "in.wav", overwrite=False)
    (tmp_path / "d.mkv").mkdir()
    with pytest.raises(SessionWriteError, match="it is a folder"):
        reserve_output(tmp_path / "d.mkv", "in.wav", overwrite=True)


def test_a_default_name_taken_meanwhile_moves_to_the_next(
    tmp_path: Path, wav: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two runs started in the same second without --output: the one that finds its name taken (by
    the other, between picking and making it) takes the next free one; both sessions stay."""
    sessions = tmp_path / "data" / "sessions"  # DUET_DATA_DIR points at tmp_path/data in tests
    sessions.mkdir(parents=True, exist_ok=True)
    taken = sessions / "run-2026-12-01-120000.mkv"
    taken.write_bytes(b"the other run's session")
    real = cli_main._default_output
    names = iter([str(taken)])
    monkeypatch.setattr(
        cli_main, "_default_output", lambda prefix, label="": next(names, None) or real(prefix, label)
    )
    assert cli_main.main(["run", "--model", "testecho", "--input", str(wav), "--tail-s", "0"]) == 0
    path = Path(json.loads(capsys.readouterr().out)["path"])
    assert path != taken and path.parent == sessions.resolve() and read_session(path).n_ticks >= 10
    assert taken.read_bytes() == b"the other run's session"


@pytest.mark.linux  # SIGTERM as a handled signal to a child
def test_sigterm_closes_the_file_and_stops_the_engine(tmp_path: Path) -> None:
    """`kill` / `timeout` mid-run: exit 143, the session so far is readable, the engine and its shared
    memory are gone (as for Ctrl-C)."""
    wav = tmp_path / "long.wav"
    write_wav(wav, 30.0)
    out = tmp_path / "s.mkv"
    shm_before = {p.name for p in Path("/dev/shm").glob("duet_*")}
    proc = subprocess.Popen(
        [str(EXE), "run", "--model", "testecho", "--input", str(wav), "--output", str(out), "--realtime"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
    )  # fmt: skip
    events = out.with_name("s.events.jsonl")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not events.is_file() or events.stat().st_size < 2000):
        time.sleep(0.2)  # the session opened and a few units went by
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert err.strip().splitlines() == [f"duet-engine: interrupted; the session so far is in {out}"]
    d = read_session(out)
    assert 10 <= d.n_ticks < 30 * 25
    assert {p.name for p in Path("/dev/shm").glob("duet_*")} <= shm_before  # the rings are unlinked


def test_an_empty_input_file_says_so(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    empty.touch()
    assert_one_line_error(
        run_echo(empty, "--output", str(tmp_path / "s.mkv")), "the input file is empty (0 bytes)"
    )
    assert not (tmp_path / "s.mkv").exists()


def test_a_reader_that_leaves_early_is_not_an_error() -> None:
    """`duet-engine models --json | head -1`-style: stdout's reader has gone before anything was
    written: exit 141 (as a shell reports SIGPIPE), nothing on stderr."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # stdout buffered, as usual
    proc = subprocess.Popen(
        [str(EXE), "models", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 141 and err == ""


def test_a_failure_before_the_session_opens_leaves_no_file(
    tmp_path: Path, wav: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The names are claimed before the input is probed and the engine is made: a failure in
    between (here the engine client cannot be made) takes the empty claimed files with it."""
    from engine import client as client_mod
    from engine.runner import RunConfig, run_session

    def refuse(self: object, **kwargs: object) -> None:
        raise RuntimeError("no engine today")

    monkeypatch.setattr(client_mod.EngineClient, "__init__", refuse)
    out = tmp_path / "s.mkv"
    with pytest.raises(RuntimeError, match="no engine today"):
        run_session(RunConfig(model="testecho", input=str(wav), output=str(out)))
    assert sorted(tmp_path.iterdir()) == [wav]


def test_a_revision_is_for_a_hub_repo(tmp_path: Path, wav: Path) -> None:
    out = tmp_path / "s.mkv"
    p = run_echo(wav, "--output", str(out), "--revision", "v1")
    assert_one_line_error(p, "--revision needs --weights")
    p = cli("run", "--model", "streamer", "--input", str(wav), "--output", str(out), "--weights",
            str(tmp_path), "--revision", "v1")  # fmt: skip
    assert p.stderr.splitlines()[0] == f"duet-engine: note: --revision ignored: {tmp_path} is a local folder"
    assert p.returncode == 1 and "config.json" in p.stderr  # an empty folder: no checkpoint in it
    assert not out.exists()


def test_a_model_that_breaks_its_contract_is_told_what_and_where(tmp_path: Path, wav: Path) -> None:
    """Output on the wrong ticks, float frames, integer PCM: each a failed step naming what is
    wrong (not a 60 s stall, a flood of warnings or a clipped square wave); frames of another size
    than the model announced: said once, and scaled."""
    says = ("0.2:badtick", "0.5:floatframes", "0.8:intpcm", "1.1:smallframes")
    args = [a for s in says for a in ("--say", s)]
    p = cli("run", "--model", "testcrash", "--input", str(wav), "--output", str(tmp_path / "s.mkv"), *args)
    assert p.returncode == 0, p.stderr
    warnings = json.loads(p.stdout)["warnings"]
    expected = [
        "ValueError: UnitOut covers ticks",  # badtick
        "UnitOut.frames must be uint8 RGB 0..255 (n_ticks, S, S, 3), got float32",
        "UnitOut.pcm must be float32 samples in -1..1 (or None), got int16",
        "frame_size: model frames are 64x64 but it announced frame_size 128: they are scaled to 128x128",
    ]
    for needle in expected:
        assert sum(needle in w for w in warnings) == 1, (needle, warnings)
    bad_tick = next(w for w in warnings if "UnitOut covers ticks" in w)
    assert "(unit.tick + output_lag_units * unit_ticks" in bad_tick


def test_a_stuck_step_is_found_in_the_engine_log(tmp_path: Path, wav: Path) -> None:
    """A model step that never returns: the run stops as hung, and the engine log shows where the
    model is stuck (its stacks, written once the step ran over a second)."""
    log = tmp_path / "engine.log"
    out = tmp_path / "s.mkv"
    args = ("--input", str(wav), "--output", str(out), "--say", "0.2:hang", "--log", str(log))
    p = cli("run", "--model", "testcrash", *args, timeout=120)
    assert_one_line_error(p, "engine hung", "the engine log holds the stacks of a step stuck for over 1 s")
    text = log.read_text()
    assert "Timeout (0:00:01)!" in text
    assert 'tests/support/models.py", line' in text and " in step" in text  # where it is stuck
    assert read_session(out).n_ticks > 0  # what came before is kept


def test_a_step_too_slow_for_the_app_is_a_warning(tmp_path: Path, wav: Path) -> None:
    out = tmp_path / "s.mkv"
    p = cli("run", "--model", "testcrash", "--input", str(wav), "--output", str(out), "--say", "0.2:veryslow")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["warnings"] == [
        "1 model step took longer than 1.3 s: in the app (hang timeout 1.5 s) the engine would be called"
        " hung and restarted"
    ]


def test_weights_for_a_model_that_loads_none_are_a_usage_error(
    tmp_path: Path, wav: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """lite has no weights: --weights would be ignored while the session's metadata named them.
    Refused in one line before any engine starts; a model of one's own (DUET_EXTRA_MODELS, whose
    options Duet does not know) still takes them, and a local folder is stored by its absolute path."""
    out = tmp_path / "s.mkv"
    (tmp_path / "w").mkdir()
    p = cli(
        "run", "--model", "lite", "--input", str(wav), "--output", str(out), "--weights", str(tmp_path / "w")
    )
    assert p.returncode == 2, p.stderr
    assert p.stderr.strip().splitlines() == ["duet-engine: error: model 'lite' takes no --weights"]
    assert not out.exists() and not out.with_name("s.events.jsonl").exists()
    from engine.runner import RunConfig, run_session

    with pytest.raises(ValueError, match="model 'lite' takes no --weights"):  # the runner's own check
        run_session(RunConfig(model="lite", input=str(wav), output=str(out), weights=str(tmp_path / "w")))
    assert not out.exists()
    monkeypatch.setenv("DUET_EXTRA_MODELS", "mine=tests.support.models:EchoTestModel")
    p = subprocess.run(
        [str(EXE), "run", "--model", "mine", "--input", str(wav), "--output", str(out), "--weights", "w",
         "--tail-s", "0"],
        capture_output=True, text=True, timeout=120, env=dict(os.environ), cwd=tmp_path,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert read_session(out, video=False).meta["weights"] == str((tmp_path / "w").resolve())

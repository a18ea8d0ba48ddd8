"""Container metadata says how a session was run: session_meta (runner and app) and the runner's
own settings, written and read back by read_session()/describe()."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from engine.paths import assets_dir
from engine.protocol import SessionSpec
from engine.session import SessionWriter, describe, read_session, session_meta
from engine.session.writer import persona_sha256


def test_session_meta_names_the_persona_file_by_its_hash(tmp_path: Path) -> None:
    guide = (assets_dir() / "personas" / "guide.yaml").read_bytes()
    meta = session_meta(SessionSpec(persona="guide"), "cpu", 4)
    assert meta["persona_sha256"] == hashlib.sha256(guide).hexdigest()[:16]
    assert "output_lag_units" not in meta and "model_options" not in meta  # not given: not claimed
    assert "session_options" not in meta  # none

    own = tmp_path / "mine.yaml"
    own.write_bytes(guide)
    assert persona_sha256(str(own)) == meta["persona_sha256"]  # a path: the same bytes, the same hash
    own.write_bytes(guide + b"# one more line\n")
    edited = persona_sha256(str(own))
    assert len(edited) == 16 and edited != meta["persona_sha256"]  # same id or name, other words
    assert persona_sha256("no-such-persona") == "" and persona_sha256("") == ""
    assert "persona_sha256" not in session_meta(SessionSpec(persona=str(tmp_path / "gone.yaml")), "cpu", 4)


def test_session_meta_keeps_lag_and_options() -> None:
    spec = SessionSpec(persona="guide", options={"eot_ms": "500", "greet_at_start": "1"})
    meta = session_meta(
        spec, "cuda:0", 4, output_lag_units=1, model_options={"size": "S", "dtype": "float16"}
    )
    assert meta["output_lag_units"] == "1" and meta["unit_ticks"] == "4" and meta["device"] == "cuda:0"
    assert json.loads(meta["model_options"]) == {"dtype": "float16", "size": "S"}
    assert json.loads(meta["session_options"]) == {"eot_ms": "500", "greet_at_start": "1"}
    assert json.loads(session_meta(spec, "cpu", 4, model_options={})["model_options"]) == {}


def test_meta_reads_back_lower_case(tmp_path: Path) -> None:
    out = tmp_path / "s.mkv"
    meta = session_meta(SessionSpec(persona="guide"), "cpu", 4, 1, {"frame_size": "64"})
    with SessionWriter(out, model="lite", persona="guide", avatar="ada", avatar_size=16, meta=meta) as w:
        w.add_user_audio(0, np.zeros(640, np.float32))
        w.add_avatar_audio(0, None)
    for got in (read_session(out, video=False).meta, describe(out)["meta"]):
        assert {k: got[k] for k in meta} == meta

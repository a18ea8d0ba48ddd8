"""The lite model through the real engine process and the headless runner (issue 3's recorded turn)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import cast

import numpy as np
import pytest

from engine.protocol import Decision, DecisionChanged, FlushOut, Transcript
from engine.runner import RunConfig, run_session
from engine.session import read_session


@pytest.mark.slow
def test_recorded_turn_with_echo_through_the_runner(
    tmp_path: Path, user_speech: dict[str, np.ndarray], performer_api: ModuleType
) -> None:
    """A piper-voiced question in a WAV, open speakers simulated by the runner (100 ms, gain 0.5):
    a final transcript, the persona's spoken answer finished without yielding, mouth motion only
    while the avatar's audio sounds, no avatar speech while the user speaks."""
    wav = cast(Path, user_speech["_dir"]) / "what.wav"  # the fixture keeps its WAV folder there
    out = tmp_path / "turn.mkv"
    cfg = RunConfig(
        model="lite",
        input=str(wav),
        output=str(out),
        tail_s=None,  # auto: until the avatar is done
        echo_delay_ms=100,
        echo_gain=0.5,
        options={"tts_wait_ms": "10000"},
        model_options={"frame_size": "192"},
        start_timeout_s=180,
    )
    run_session(cfg)
    data = read_session(out)
    events = [msg for _, _, msg in data.events]
    finals = [e for e in events if isinstance(e, Transcript) and e.side == "user" and e.final]
    assert len(finals) == 1
    said = " ".join(e.text for e in events if isinstance(e, Transcript) and e.side == "avatar")
    assert said.startswith("Duet is an app for talking with an avatar")
    assert said.endswith("I stop when you interrupt me.")  # finished despite its own echo
    assert not any(isinstance(e, FlushOut) for e in events)
    assert not any(isinstance(e, DecisionChanged) and e.decision is Decision.YIELD for e in events)

    assert data.avatar_frames is not None
    n = min(len(data.avatar_pcm) // 960, data.avatar_frames.shape[0])
    rms = np.sqrt(np.mean(data.avatar_pcm[: n * 960].reshape(n, 960) ** 2, axis=1))
    voiced = rms > 1e-3
    assert voiced.sum() > 100
    loud = np.nonzero(np.abs(user_speech["what"]) > 0.01)[0]  # the session's mic track holds echo too
    user_end_tick = int(loud[-1] / 640) + 1
    first_voiced = int(np.argmax(voiced))
    quiet_end = data.n_ticks - 1 - int(np.nonzero(voiced)[0][-1])  # ticks after the answer
    assert 0.8 / 0.04 <= quiet_end <= 2.0 / 0.04  # the auto tail let it finish, then stopped
    assert first_voiced >= user_end_tick  # no avatar speech while the user speaks
    opening = np.array([performer_api.mouth_open_fraction(f, "ada") for f in data.avatar_frames[:n]])
    near = voiced | np.roll(voiced, 1) | np.roll(voiced, -1)
    assert np.all(opening[~near] < 0.08)
    assert np.mean(opening[voiced] > 0.1) > 0.3

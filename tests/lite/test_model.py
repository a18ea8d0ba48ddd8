"""LiteModel end to end, stepped in-process over recorded user turns (like the headless runner).

Scenarios run once per module (they take seconds each); several tests check each of them.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import pytest

from engine.models.base import InteractiveModel
from engine.models.lite.persona import load_persona
from engine.protocol import (
    Decision,
    DecisionChanged,
    Presence,
    SessionSpec,
    StateChanged,
    Transcript,
    UnitIn,
)

from .harness import RunResult, place, run_model

if TYPE_CHECKING:
    from engine.models.lite.model import LiteModel

VOICED = 1e-3  # avatar tick rms above this = the avatar is audible
SPEC = SessionSpec(persona="guide", avatar="ada", frame_size=256, options={"tts_wait_ms": "10000"})


def onset_s(clip: np.ndarray, at_s: float) -> float:
    """Session time of the first audible sample of `clip` placed at `at_s`."""
    return at_s + int(np.argmax(np.abs(clip) > 0.01)) / 16000


def offset_s(clip: np.ndarray, at_s: float) -> float:
    loud = np.nonzero(np.abs(clip) > 0.01)[0]
    return at_s + (int(loud[-1]) + 1) / 16000


def answer_of(intent: str) -> str:
    return next(i for i in load_persona("guide").all_intents() if i.name == intent).answers[0]


@pytest.fixture(scope="module")
def turn_run(lite_model: LiteModel, user_speech: dict[str, np.ndarray]) -> RunResult:
    mic = place(7.0, [(1.0, user_speech["how"])])
    return run_model(lite_model, mic, SPEC)


def test_lite_model_satisfies_contract(lite_model: LiteModel) -> None:
    assert isinstance(lite_model, InteractiveModel)
    assert (lite_model.unit_ticks, lite_model.output_lag_units, lite_model.trained) == (4, 1, True)


def test_user_turn_gets_final_transcript_and_persona_answer(turn_run: RunResult) -> None:
    finals = turn_run.transcripts("user", final=True)
    assert len(finals) == 1 and "you" in finals[0].text  # pocketsphinx hears "are you"
    assert turn_run.transcripts("user", final=False), "partial transcripts stream while the user talks"
    said = " ".join(t.text for t in turn_run.transcripts("avatar"))
    assert said == answer_of("how_are_you")
    assert np.sum(turn_run.tick_rms() > VOICED) > 40  # seconds of audible answer


def test_no_avatar_speech_while_user_speaks(turn_run: RunResult, user_speech: dict[str, np.ndarray]) -> None:
    start, end = onset_s(user_speech["how"], 1.0), offset_s(user_speech["how"], 1.0)
    voiced = np.nonzero(turn_run.tick_rms() > VOICED)[0]
    first = voiced[0] * 0.04
    assert first >= end  # the avatar answers only after the user finished
    assert not np.any((voiced * 0.04 >= start - 0.04) & (voiced * 0.04 < end))
    assert first - end < 1.0  # and promptly (generous bound; the benchmark measures it)


def test_mouth_moves_only_while_avatar_audio_sounds(turn_run: RunResult, performer_api: ModuleType) -> None:
    rms = turn_run.tick_rms()
    opening = np.array(
        [performer_api.mouth_open_fraction(f, "ada") if f is not None else 0.0 for f in turn_run.frames]
    )
    voiced = rms > VOICED
    # neighbours: the viseme track may lead the audio by one frame
    near_voice = voiced | np.roll(voiced, -1) | np.roll(voiced, 1)
    assert np.all(opening[~near_voice] < 0.05), "mouth open while the avatar is silent"
    assert np.mean(opening[voiced] > 0.1) > 0.4, "mouth barely moves while the avatar talks"
    assert np.std(opening[voiced]) > 0.05  # it moves, not a fixed open mouth


def test_decisions_and_states(turn_run: RunResult) -> None:
    decisions = [e.decision for e in turn_run.of_type(DecisionChanged)]
    assert decisions == [Decision.SPEAK, Decision.LISTEN]
    states = [e.state for e in turn_run.of_type(StateChanged)]
    assert "speaking" in states and "listening" in states
    assert not turn_run.flushes
    stages = turn_run.outs[-1].timings
    assert {"vad", "asr", "echo", "render", "tts", "step"} <= set(stages)


@pytest.fixture(scope="module")
def human_run(lite_model: LiteModel, front_center: np.ndarray) -> RunResult:
    mic = place(7.0, [(0.5, front_center)])
    return run_model(lite_model, mic, SessionSpec(frame_size=128, options={"tts_wait_ms": "10000"}))


def test_real_human_speech_gets_an_answer(human_run: RunResult, front_center: np.ndarray) -> None:
    finals = human_run.transcripts("user", final=True)
    assert len(finals) == 1 and finals[0].text  # something was recognised
    persona = load_persona("guide")
    said = " ".join(t.text for t in human_run.transcripts("avatar"))
    scripted = [a for i in persona.all_intents() for a in i.answers] + list(persona.fallback)
    assert said in scripted + list(persona.repeat_request)
    voiced = np.nonzero(human_run.tick_rms() > VOICED)[0]
    assert len(voiced) and voiced[0] * 0.04 >= offset_s(front_center, 0.5)


@pytest.fixture(scope="module")
def barge_run(lite_model: LiteModel, user_speech: dict[str, np.ndarray]) -> tuple[RunResult, float]:
    at = 4.0  # the answer to "what is duet" starts ~2.5 s and lasts ~7 s
    mic = place(9.0, [(1.0, user_speech["what"]), (at, user_speech["stop"])])
    return run_model(lite_model, mic, SessionSpec(frame_size=128, options={"tts_wait_ms": "10000"})), onset_s(
        user_speech["stop"], at
    )


def test_barge_in_stops_avatar_within_200ms_and_flushes(barge_run: tuple[RunResult, float]) -> None:
    run, onset = barge_run
    assert len(run.flushes) == 1
    flush = run.flushes[0]
    rms = run.tick_rms()
    onset_tick = int(onset / 0.04)
    assert np.any(rms[onset_tick - 10 : onset_tick] > VOICED), "the avatar was talking before the barge-in"
    # audio stops within 200 ms of the onset, and stays stopped until the avatar answers again
    stop_tick = int(np.ceil((onset + 0.2) / 0.04 - 1e-9))
    resume = [t.tick for t in run.transcripts("avatar") if t.tick > onset_tick]
    resume_tick = resume[0] if resume else len(rms)
    assert resume_tick - stop_tick > 10, "a real pause before the avatar answers the interruption"
    loud = np.nonzero(rms[stop_tick:resume_tick] > VOICED)[0]
    assert not len(loud), f"avatar audible {loud[:5] * 0.04 + stop_tick * 0.04} s after the barge-in"
    assert flush.from_tick * 0.04 - onset <= 0.2 + 1e-9
    # the step that flushed says YIELD, on its own output tick (the flush may reach back before it:
    # from the onset's tick on); no other step does
    [step] = [out for out in run.outs if flush in out.events]
    assert DecisionChanged(step.tick, Decision.YIELD) in step.events and flush.from_tick <= step.tick
    yields = [e for e in run.events if isinstance(e, DecisionChanged) and e.decision is Decision.YIELD]
    assert yields == [DecisionChanged(step.tick, Decision.YIELD)]


def test_after_barge_in_the_user_is_answered(barge_run: tuple[RunResult, float]) -> None:
    run, onset = barge_run
    finals = run.transcripts("user", final=True)
    assert len(finals) == 2  # both user turns were heard
    later = [t for t in run.transcripts("avatar") if t.tick * 0.04 > onset]
    assert later, "the avatar answers the interrupting turn"


@pytest.fixture(scope="module")
def echo_run(lite_model: LiteModel, user_speech: dict[str, np.ndarray]) -> RunResult:
    mic = place(11.0, [(1.0, user_speech["what"])])
    return run_model(
        lite_model, mic, SessionSpec(frame_size=128, options={"tts_wait_ms": "10000"}), echo=(100, 0.5)
    )


def test_echo_does_not_make_the_avatar_yield(echo_run: RunResult) -> None:
    assert not echo_run.flushes
    assert not any(isinstance(e, DecisionChanged) and e.decision is Decision.YIELD for e in echo_run.events)
    said = " ".join(t.text for t in echo_run.transcripts("avatar"))
    assert said == answer_of("what_is_duet")  # the whole answer
    assert len(echo_run.transcripts("user", final=True)) == 1  # its own voice is not a user turn
    voiced = np.nonzero(echo_run.tick_rms() > VOICED)[0]
    assert voiced[-1] - voiced[0] > 100  # it talked on for seconds


def test_echo_behind_a_long_playback_queue_is_suppressed_with_the_clients_lag_report(
    lite_model: LiteModel, user_speech: dict[str, np.ndarray]
) -> None:
    """Open speakers behind a live client's playback queue: the avatar is heard 0.9 s after its
    output tick (beyond the echo search window); the client reports 0.84 s of it."""
    mic = place(12.0, [(1.0, user_speech["what"])])
    spec = SessionSpec(frame_size=64, options={"tts_wait_ms": "10000"})
    run = run_model(lite_model, mic, spec, echo=(900, 0.8), keep_frames=False, mic_lag_ticks=21.0)
    assert not run.flushes
    assert len(run.transcripts("user", final=True)) == 1  # its own voice is not a user turn
    assert " ".join(t.text for t in run.transcripts("avatar")) == answer_of("what_is_duet")


def test_barge_in_is_heard_through_echo(lite_model: LiteModel, user_speech: dict[str, np.ndarray]) -> None:
    at = 5.0
    mic = place(8.0, [(1.0, user_speech["what"]), (at, user_speech["stop"])])
    spec = SessionSpec(frame_size=128, options={"tts_wait_ms": "10000"})
    run = run_model(lite_model, mic, spec, echo=(80, 0.4))
    assert len(run.flushes) == 1
    onset = onset_s(user_speech["stop"], at)
    assert run.flushes[0].from_tick * 0.04 >= onset - 0.04  # not before the user spoke
    assert run.flushes[0].from_tick * 0.04 - onset <= 0.3


def test_typed_and_operator_text(lite_model: LiteModel) -> None:
    lite_model.open(SessionSpec(frame_size=128, options={"tts_wait_ms": "10000"}))
    lite_model.user_text("Say this exactly.", operator=True)
    said = []
    for u in range(12):
        texts = ("how do you hear me",) if u == 6 else ()
        unit = UnitIn.silent(u * 4, 4)
        unit = UnitIn(unit.tick, 4, unit.mic, unit.frames, unit.frame_ticks, texts=texts)
        out = lite_model.step(unit)
        said += [e for e in out.events if isinstance(e, Transcript)]
    assert said[0] == Transcript(4, "avatar", "Say this exactly.", True)
    assert any(t.side == "user" and t.text == "how do you hear me" and t.final for t in said)
    assert any(t.side == "avatar" and t.text.startswith("I hear you") for t in said)


def test_client_flush_stops_output(lite_model: LiteModel) -> None:
    lite_model.open(SessionSpec(frame_size=128, options={"tts_wait_ms": "10000", "greet_at_start": "1"}))
    out = lite_model.step(UnitIn.silent(0, 4))
    assert out.pcm is not None  # greeting
    lite_model.flush(8)
    for u in range(1, 4):
        assert lite_model.step(UnitIn.silent(u * 4, 4)).pcm is None


@pytest.fixture(scope="module")
def camera_run(lite_model: LiteModel, performer_api: ModuleType) -> tuple[RunResult, list[np.ndarray]]:
    """A drawn face (the 'max' avatar) stands left in the camera image from 1 s to 4 s."""
    perf = performer_api.Performer("max", size=240, seed=1)
    from engine.models.lite.visemes import MouthPose

    cue = performer_api.PerformCue(
        mode="idle", mouth=MouthPose.closed(), gaze=(0.0, 0.0), nod=False, user_present=False
    )
    face = perf.frame(0.0, cue)
    empty = np.full((480, 640, 3), 90, np.uint8)
    with_face = empty.copy()
    with_face[120:360, 60:300] = face
    camera = [with_face if 25 <= t < 100 else empty for t in range(250)]
    mic = np.zeros(int(10.0 * 16000), np.float32)
    spec = SessionSpec(frame_size=128, options={"tts_wait_ms": "10000"})
    return run_model(lite_model, mic, spec, camera=camera), camera


def test_face_presence_greets_once_and_notices_leaving(
    camera_run: tuple[RunResult, list[np.ndarray]],
) -> None:
    run, _ = camera_run
    presence = run.of_type(Presence)
    assert [p.present for p in presence] == [True, False]
    came, left = presence
    assert 0.75 <= came.tick * 0.04 - 1.0 <= 1.05  # stayed ~1 s before counting as a visit
    assert came.x < 0.5 and came.size > 0.1  # on the left of the camera image
    assert left.tick * 0.04 > 4.0
    said = [t.text for t in run.transcripts("avatar")]
    assert " ".join(said) == load_persona("guide").greeting  # greeted once
    greet_tick = run.transcripts("avatar")[0].tick
    assert greet_tick >= came.tick
    assert greet_tick * 0.04 - 1.0 <= 1.25  # the greeting's audio starts ~1 s after they showed up


def test_gaze_follows_face(lite_model: LiteModel) -> None:
    watcher = lite_model._faces
    from engine.models.lite.seeing import Face

    watcher.present, watcher.face = True, Face(0.2, 0.45, 0.3)
    assert watcher.gaze()[0] > 0.3  # left in the camera image = the viewer's right of the avatar
    watcher.face = Face(0.8, 0.45, 0.3)
    assert watcher.gaze()[0] < -0.3
    watcher.present = False
    assert watcher.gaze() == (0.0, 0.0)


def test_pause_inside_a_turn_does_not_leak_a_speculative_answer(
    lite_model: LiteModel, user_speech: dict[str, np.ndarray]
) -> None:
    """The answer to the first words is prepared during the pause, but the user goes on: only one
    answer is spoken, after the whole turn."""
    first, second = user_speech["how"], user_speech["interrupt"]
    second_at = offset_s(first, 1.0) + 0.2 - int(np.argmax(np.abs(second) > 0.01)) / 16000
    mic = place(8.0, [(1.0, first), (second_at, second)])
    run = run_model(lite_model, mic, SessionSpec(frame_size=128, options={"tts_wait_ms": "10000"}))
    assert len(run.transcripts("user", final=True)) == 1
    assert not run.flushes
    voiced = np.nonzero(run.tick_rms() > VOICED)[0]
    assert voiced[0] * 0.04 >= offset_s(second, second_at)
    said = " ".join(t.text for t in run.transcripts("avatar"))
    from engine.models.lite.brain import ScriptBrain

    final = run.transcripts("user", final=True)[0].text
    assert said == ScriptBrain(load_persona("guide")).answer(final)  # the answer to the whole turn


def test_bad_session_settings_are_explained(lite_model: LiteModel, tmp_path: Path) -> None:
    from engine.models.lite.persona import PersonaError

    with pytest.raises(ValueError, match=r"unknown voice 'nobody'.*available: joe"):
        lite_model.open(SessionSpec(voice="nobody"))
    with pytest.raises(ValueError, match=r"unknown avatar 'zed'.*ada"):
        lite_model.open(SessionSpec(avatar="zed"))
    with pytest.raises(ValueError, match="eot_ms='soon' must be a number"):
        lite_model.open(SessionSpec(options={"eot_ms": "soon"}))
    with pytest.raises(ValueError, match="unknown brain"):
        lite_model.open(SessionSpec(brain="oracle"))
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: X\ngreeting: 5\n")
    with pytest.raises(PersonaError, match=r"broken.yaml:2: greeting must be text"):
        lite_model.open(SessionSpec(persona=str(broken)))


def test_a_persona_without_a_voice_speaks_with_its_avatars(lite_model: LiteModel, tmp_path: Path) -> None:
    """`voice:` left out or empty: the avatar's own `voice:` (ada: joe-bright, max: joe); a voice the
    session names wins over both."""
    plain = tmp_path / "plain.yaml"
    for voice_line in ("", "voice:\n"):
        plain.write_text(f"name: P\ngreeting: Hi.\nfallback: Sorry?\nrepeat_request: Again?\n{voice_line}")
        for avatar, voice in (("ada", "joe-bright"), ("max", "joe")):
            lite_model.open(SessionSpec(persona=str(plain), avatar=avatar, frame_size=128))
            assert lite_model.voice_id == voice and lite_model.voice.voice_id == voice
            lite_model.close()
    lite_model.open(SessionSpec(persona=str(plain), avatar="ada", voice="joe-warm", frame_size=128))
    assert lite_model.voice_id == "joe-warm"
    lite_model.close()
    lite_model.open(SessionSpec(persona="booth", avatar="ada", frame_size=128))
    assert lite_model.voice_id == "joe"  # booth names its voice: it keeps it with any avatar
    lite_model.close()

"""Greeting visitors on synthetic camera scenes (tests/lite/scenes.py): once per visit, when free."""

from __future__ import annotations

import numpy as np

from engine.models.lite.model import LiteModel
from engine.models.lite.persona import load_persona
from engine.protocol import Presence, SessionSpec

from .harness import RunResult, run_model
from .scenes import Person, Scene

GREETING = load_persona("guide").greeting
# an operator line that keeps the avatar talking for several seconds
LONG_LINE = (
    "Welcome everyone to our booth. Today we are showing a conversational avatar that listens while "
    "it talks, and you can interrupt it at any moment, just like a person."
)


def _run(model: LiteModel, people: list[Person], dur_s: float, say: str = "") -> RunResult:
    model.open(SessionSpec(frame_size=64, options={"tts_wait_ms": "10000"}))
    if say:
        model.user_text(say, operator=True)
    mic = np.zeros(int(dur_s * 16000), np.float32)
    return run_model(model, mic, camera=Scene(people, dur_s), keep_frames=False, open_session=False)


def _greetings(run: RunResult) -> list[float]:
    """Start times (s, output clock) of the greeting's first sentence."""
    first = GREETING.split(".")[0]
    return [t.tick * 0.04 for t in run.transcripts("avatar") if t.text.startswith(first)]


def test_a_visitor_who_looks_away_is_greeted_once(lite_model: LiteModel) -> None:
    people = [Person(1.0, 5.0), Person(5.0, 7.6, away=True), Person(7.6, 12.0)]
    run = _run(lite_model, people, 14.0)
    assert [p.present for p in run.of_type(Presence)] == [True, False]
    greets = _greetings(run)
    assert len(greets) == 1 and 1.0 + 0.75 <= greets[0] <= 1.0 + 1.3


def test_a_newcomer_is_greeted_once_the_avatar_is_free(lite_model: LiteModel) -> None:
    """The avatar is talking when someone walks up: the greeting follows when it is done."""
    run = _run(lite_model, [Person(1.0, 16.0)], 16.0, say=LONG_LINE)
    line_end = max(t.tick for t in run.transcripts("avatar") if t.text not in GREETING)
    greets = _greetings(run)
    assert len(greets) == 1 and greets[0] > line_end * 0.04


def test_no_greeting_for_someone_who_left_while_the_avatar_talked(lite_model: LiteModel) -> None:
    run = _run(lite_model, [Person(1.0, 3.2)], 12.0, say=LONG_LINE)
    assert [p.present for p in run.of_type(Presence)] == [True, False]
    assert _greetings(run) == []

"""The state pill follows the sound: the engine says a state at its output tick, up to the output
lag + the speaker's buffer before that tick is heard; the app shows it once the tick is at the
speaker (Conversation.state_at / show_due)."""

from __future__ import annotations

from app.conversation import Conversation


def test_an_engine_state_shows_when_its_tick_is_at_the_speaker(qt_clean: None) -> None:
    conv = Conversation()
    shown: list[str] = []
    conv.state_changed.connect(shown.append)
    conv.set_state("listening")
    conv.state_at(100, "speaking")
    conv.state_at(140, "listening")  # the last words end at tick 140
    conv.show_due(lambda: 99)
    assert conv.state == "listening" and shown == ["listening"]  # not before its sound
    conv.show_due(lambda: 100)
    assert conv.state == "speaking"
    conv.show_due(lambda: 139)
    assert conv.state == "speaking"  # still talking while tick 139 plays
    conv.show_due(lambda: 140)
    assert conv.state == "listening" and shown == ["listening", "speaking", "listening"]


def test_without_sound_at_the_speaker_states_show_at_once(qt_clean: None) -> None:
    conv = Conversation()
    conv.state_at(500, "thinking")
    conv.show_due(lambda: -1)  # nothing playing (no speaker, or silence after an underrun)
    assert conv.state == "thinking"


def test_states_of_a_session_that_ended_never_hold_up_the_next(qt_clean: None) -> None:
    conv = Conversation()
    conv.set_state("listening")
    conv.state_at(5000, "speaking")  # the old session's, its tick never comes in the new one
    conv.forget_due()
    conv.state_at(3, "thinking")
    conv.show_due(lambda: 3)
    assert conv.state == "thinking"
    # ticks going back (a new session's clock, without forget_due) drop the old ones too
    conv.state_at(9000, "speaking")
    conv.state_at(4, "listening")
    conv.show_due(lambda: 4)
    assert conv.state == "listening"
    # the app's own states drop what was due
    conv.state_at(20, "speaking")
    conv.set_state("offline")
    conv.show_due(lambda: 30)
    assert conv.state == "offline"

"""Script brain: intent matching robust to recognition errors, sentence streaming."""

from __future__ import annotations

import threading

import pytest

from engine.models.lite.brain import ScriptBrain, SentenceSplitter, split_sentences
from engine.models.lite.persona import load_persona


@pytest.fixture(scope="module")
def guide_brain() -> ScriptBrain:
    return ScriptBrain(load_persona("guide"))


@pytest.mark.parametrize(
    ("heard", "intent"),
    [
        ("what is duet", "what_is_duet"),
        ("what is to let", "what_is_duet"),  # "Duet" misheard as words
        ("oh what is to let him how does it work", "how_it_works"),
        ("how do you here me", "how_you_hear"),
        ("can i interrupt you", "interrupt"),
        ("do you need the internet", "offline"),
        ("uh how do i record", "record"),
        ("hello", "hello"),
        ("ways to stop please", "stop"),  # "Wait, stop please." as heard over the avatar
        ("hold on", "stop"),
    ],
)
def test_intents_survive_asr_errors(guide_brain: ScriptBrain, heard: str, intent: str) -> None:
    guide_brain.answer(heard)
    assert guide_brain.last_intent == intent


def test_fallback_and_repeat(guide_brain: ScriptBrain) -> None:
    persona = guide_brain.persona
    assert guide_brain.answer("the weather in paris is nice today") in persona.fallback
    assert guide_brain.last_intent == "fallback"
    assert guide_brain.answer("") in persona.repeat_request
    assert guide_brain.last_intent == "repeat_request"


def test_answers_round_robin() -> None:
    brain = ScriptBrain(load_persona("guide"))
    fb = brain.persona.fallback
    assert [brain.answer("zebra xylophone quantum") for _ in range(3)] == [fb[0], fb[1], fb[0]]


def test_reply_streams_sentences_and_stops_on_cancel(guide_brain: ScriptBrain) -> None:
    cancel = threading.Event()
    it = guide_brain.reply("what is duet", cancel)
    first = next(it)
    assert first.startswith("Duet is an app")
    cancel.set()
    assert list(it) == []


def test_sentence_splitting() -> None:
    assert split_sentences("Hello there. How are you?  Fine!") == ["Hello there.", "How are you?", "Fine!"]
    # a short first sentence goes with the next; the last one stays itself however short
    assert split_sentences("Hi there. How are you?  Fine!") == ["Hi there. How are you?", "Fine!"]
    s = SentenceSplitter()
    out = []
    for ch in "Hi. I am Ada, a guide! What would you like? Bye":
        out += s.feed(ch)
    assert out == ["Hi. I am Ada, a guide!", "What would you like?"]  # short "Hi." joins the next
    assert s.finish() == ["Bye"]


def test_peek_does_not_advance_answers() -> None:
    brain = ScriptBrain(load_persona("guide"))
    fb = brain.persona.fallback
    assert brain.peek("zebra xylophone") == brain.peek("zebra xylophone") == fb[0]
    assert brain.answer("zebra xylophone") == fb[0]
    assert brain.peek("zebra xylophone") == fb[1]


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("Ask Dr. Smith at stand no. 5, e.g. the big one. We are here all day.",
         ["Ask Dr. Smith at stand no. 5, e.g. the big one.", "We are here all day."]),
        ("The talk is at 10:30 a.m. on Dec. 5 in hall B. See you there!",
         ["The talk is at 10:30 a.m. on Dec. 5 in hall B.", "See you there!"]),
        ("The talk is at 10:30 a.m. See you there, it will be fun.",
         ["The talk is at 10:30 a.m.", "See you there, it will be fun."]),  # a capital: a new one
        ("Mr. and Mrs. J. R. Smith met Ms. Lee on St. Mark's Square vs. the rain, i.e. inside.",
         ["Mr. and Mrs. J. R. Smith met Ms. Lee on St. Mark's Square vs. the rain, i.e. inside."]),
        ("Is it free? No. It costs 1,299.99 dollars, version 2.5 included. Thanks!",
         ["Is it free? No.", "It costs 1,299.99 dollars, version 2.5 included.", "Thanks!"]),
        ("Our stand is in hall B. Come by, J. R. R. Tolkien fans!",
         ["Our stand is in hall B.", "Come by, J. R. R. Tolkien fans!"]),
        ('He said "we open at nine." Then he left the booth.',
         ['He said "we open at nine."', "Then he left the booth."]),
    ],
)  # fmt: skip
def test_sentences_do_not_end_at_abbreviations(text: str, sentences: list[str]) -> None:
    assert split_sentences(text) == sentences
    streamed = SentenceSplitter()
    out: list[str] = []
    for ch in text:
        out += streamed.feed(ch)
    assert [*out, *streamed.finish()] == sentences  # the same, fed a character at a time


def test_a_paused_stream_does_not_cut_at_an_abbreviation() -> None:
    s = SentenceSplitter()
    assert s.feed("Please ask Dr.") == [] and s.take_complete() == []
    assert s.feed(" Smith about it.") == [] and s.take_complete() == ["Please ask Dr. Smith about it."]

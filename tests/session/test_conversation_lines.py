"""`show`/`describe` list the conversation as the window shows it: a sentence the avatar's voice
said in parts is one line."""

from __future__ import annotations

from engine.protocol import Transcript, UserText, continues_sentence
from engine.session.info import _conversation


def test_a_sentence_said_in_parts_is_one_line() -> None:
    events: list[tuple[int, str, object]] = [
        (10, "engine", Transcript(10, "user", "what is duet", True)),
        (20, "engine", Transcript(20, "avatar", "Duet is an app for talking with an avatar,", True)),
        (45, "engine", Transcript(45, "avatar", "face to face.", True)),
        (60, "engine", Transcript(60, "avatar", "Ask me anything.", True)),  # a new sentence
        (80, "engine", Transcript(80, "avatar", "Well", False)),  # partials are not lines
        (90, "client", UserText("hello", 90)),
        (95, "engine", Transcript(95, "avatar", "Hello to you", True)),
        (99, "engine", Transcript(99, "user", "wait", True)),
        (100, "engine", Transcript(100, "avatar", "too.", True)),  # the user spoke in between
    ]
    lines = [(c["tick"], c["side"], c["text"], c.get("typed", False)) for c in _conversation(events)]
    assert lines == [
        (10, "user", "what is duet", False),
        (20, "avatar", "Duet is an app for talking with an avatar, face to face.", False),
        (60, "avatar", "Ask me anything.", False),
        (90, "user", "hello", True),
        (95, "avatar", "Hello to you", False),
        (99, "user", "wait", False),
        (100, "avatar", "too.", False),
    ]


def test_continues_sentence() -> None:
    assert continues_sentence("Duet is an app,") and continues_sentence("and then")
    assert not any(continues_sentence(t) for t in ("Done.", "Really?", "Yes!", 'He said "hi"', "(aside)", ""))

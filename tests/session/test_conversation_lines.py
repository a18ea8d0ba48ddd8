"""`show`/`describe` list the conversation as the window shows it: a sentence the avatar's voice
said in parts is one line."""

from __future__ import annotations

from engine.protocol import Transcript, UserText, continues_sentence
from engine.session.info import ECHO_WINDOW_TICKS, _conversation


def lines_of(events: list[tuple[int, str, object]]) -> list[tuple[int, str, str, bool]]:
    return [(c["tick"], c["side"], c["text"], c.get("typed", False)) for c in _conversation(events)]


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


def test_the_models_caption_of_a_typed_line_is_not_listed_again() -> None:
    """lite captions typed text at the start of the 4-tick unit it applied it in: before or after
    the UserText's tick (always after it in the events log: the typed line is logged when sent)."""
    events: list[tuple[int, str, object]] = [
        (5, "runner", UserText("hello", 5)),
        (0, "engine", Transcript(0, "user", "hello", True)),  # an earlier tick, logged after
        (4, "engine", Transcript(4, "avatar", "Hello!", True)),
        (75, "client", UserText("日本語 ", 75)),
        (72, "engine", Transcript(72, "user", "日本語", True)),
        (76, "engine", Transcript(76, "avatar", "Sorry, I didn't catch that.", True)),
        (100, "client", UserText("again", 100)),
        (104, "engine", Transcript(104, "user", "again", True)),  # a later tick
        (200, "client", UserText("what is this", 200)),
        (235, "engine", Transcript(235, "user", "what is this", True)),  # a busy engine: 1.4 s late
    ]
    assert lines_of(events) == [
        (5, "user", "hello", True),
        (4, "avatar", "Hello!", False),
        (75, "user", "日本語 ", True),
        (76, "avatar", "Sorry, I didn't catch that.", False),
        (100, "user", "again", True),
        (200, "user", "what is this", True),
    ]


def test_saying_what_was_typed_is_its_own_line() -> None:
    late = 10 + ECHO_WINDOW_TICKS + 50
    events: list[tuple[int, str, object]] = [
        (10, "client", UserText("hello", 10)),
        (8, "engine", Transcript(8, "user", "hello", True)),  # the echo
        (20, "engine", Transcript(20, "avatar", "Hi.", True)),
        (late, "engine", Transcript(late, "user", "hello", True)),  # said, much later
        (late + 1, "engine", Transcript(late + 1, "user", "bye", True)),  # said, long before typed
        (late + 300, "client", UserText("bye", late + 300)),
        (late + 302, "engine", Transcript(late + 302, "user", "bye", True)),  # the echo
        (late + 400, "client", UserText("twice", late + 400)),
        (late + 400, "engine", Transcript(late + 400, "user", "twice", True)),
        (late + 401, "engine", Transcript(late + 401, "user", "twice", True)),  # one echo per typed line
        (late + 450, "engine", Transcript(late + 450, "user", "ok", True)),  # said, then typed: both
        (late + 470, "client", UserText("ok", late + 470)),
        (late + 471, "engine", Transcript(late + 471, "user", "ok", True)),  # the typed line's echo
        (late + 500, "client", UserText("said by the avatar", late + 500, operator=True)),
        (late + 501, "engine", Transcript(late + 501, "avatar", "said by the avatar", True)),
    ]
    assert lines_of(events) == [
        (10, "user", "hello", True),
        (20, "avatar", "Hi.", False),
        (late, "user", "hello", False),
        (late + 1, "user", "bye", False),
        (late + 300, "user", "bye", True),
        (late + 400, "user", "twice", True),
        (late + 401, "user", "twice", False),
        (late + 450, "user", "ok", False),
        (late + 470, "user", "ok", True),
        (late + 501, "avatar", "said by the avatar", False),
    ]

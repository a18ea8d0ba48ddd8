"""`show`/`describe` list the conversation as the window shows it: a sentence the avatar's voice
said in parts is one line, in time order, an operator's line its own, a line cut short marked."""

from __future__ import annotations

from engine.protocol import Decision, DecisionChanged, FlushOut, Transcript, UserText, continues_sentence
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


def full(events: list[tuple[int, str, object]], end_tick: int | None = None) -> list[dict[str, object]]:
    return _conversation(events, end_tick=end_tick)


def test_lines_are_in_time_order() -> None:
    """The runner logs a typed line when it sends it, after the final of speech that ended before
    it (lite logs a final ~eot_ms after the speech's end, stamped with that end)."""
    events: list[tuple[int, str, object]] = [
        (62, "runner", UserText("hello", 62)),
        (60, "engine", Transcript(60, "user", "hello", True)),  # its echo: the model took it in at 60
        (56, "engine", Transcript(56, "user", "oh what is this", True)),
        (76, "engine", Transcript(76, "avatar", "Duet is an app.", True)),
        (300, "runner", UserText("bye", 300)),
        (290, "engine", Transcript(290, "user", "bye", True)),  # taken in before the speech below
        (295, "engine", Transcript(295, "user", "and", True)),
    ]
    assert lines_of(events) == [
        (56, "user", "oh what is this", False),
        (62, "user", "hello", True),
        (76, "avatar", "Duet is an app.", False),
        (300, "user", "bye", True),  # listed at its tick, placed where the model took it in
        (295, "user", "and", False),
    ]


def test_an_operator_line_is_its_own_line_and_cuts_what_the_avatar_was_saying() -> None:
    """`run --operator 4:Hi` with lite: the avatar's answer stops (DecisionChanged listen, no
    FlushOut: its output was not queued), then it says the operator's words."""
    events: list[tuple[int, str, object]] = [
        (76, "engine", Transcript(76, "avatar", "Duet is an app for talking with an avatar,", True)),
        (76, "engine", DecisionChanged(76, Decision.SPEAK)),
        (100, "runner", UserText("Hi", 100, operator=True)),
        (104, "engine", DecisionChanged(104, Decision.LISTEN)),
        (116, "engine", Transcript(116, "avatar", "Hi", True)),  # no full stop: the operator's words
        (116, "engine", DecisionChanged(116, Decision.SPEAK)),
        (124, "engine", DecisionChanged(124, Decision.LISTEN)),
    ]
    assert full(events, end_tick=156) == [
        {
            "tick": 76,
            "side": "avatar",
            "text": "Duet is an app for talking with an avatar,",
            "cut_tick": 104,
            "cut": "operator",
        },
        {"tick": 116, "side": "avatar", "text": "Hi", "operator": True},
    ]


def test_an_operator_line_said_in_parts_while_the_avatar_speaks() -> None:
    """The operator's line starts at once (no pause between): still not glued onto the avatar's
    sentence; its parts are one line; one never said is listed where it was sent."""
    events: list[tuple[int, str, object]] = [
        (10, "engine", DecisionChanged(10, Decision.SPEAK)),
        (10, "engine", Transcript(10, "avatar", "We make Duet,", True)),
        (20, "client", UserText("Hello there,  I'm Ada. Welcome!", 20, operator=True)),
        (24, "engine", Transcript(24, "avatar", "Hello there, I'm Ada.", True)),
        (60, "engine", Transcript(60, "avatar", "Welcome!", True)),
        (80, "engine", Transcript(80, "avatar", "Anything else?", True)),  # its own words again
        (90, "engine", DecisionChanged(90, Decision.LISTEN)),
        (95, "client", UserText("Goodbye", 95, operator=True)),
    ]
    assert full(events, end_tick=100) == [
        {"tick": 10, "side": "avatar", "text": "We make Duet,", "cut_tick": 24, "cut": "operator"},
        {"tick": 24, "side": "avatar", "text": "Hello there, I'm Ada. Welcome!", "operator": True},
        {"tick": 80, "side": "avatar", "text": "Anything else?"},
        {"tick": 95, "side": "avatar", "text": "Goodbye", "operator": True, "said": False},
    ]


def test_a_barge_in_cuts_the_line_being_said() -> None:
    """lite's barge-in: FlushOut(from_tick, "barge_in") logged at the step's tick, then yield."""
    events: list[tuple[int, str, object]] = [
        (69, "engine", Transcript(69, "user", "what is this", True)),
        (80, "engine", Transcript(80, "avatar", "Duet is an app for talking with an avatar,", True)),
        (80, "engine", DecisionChanged(80, Decision.SPEAK)),
        (138, "engine", Transcript(138, "avatar", "face to face.", True)),
        (148, "engine", FlushOut(143, "barge_in")),
        (144, "engine", DecisionChanged(144, Decision.YIELD)),
        (148, "engine", DecisionChanged(148, Decision.LISTEN)),
        (181, "engine", Transcript(181, "user", "what is this", True)),
        (192, "engine", Transcript(192, "avatar", "Duet is an app.", True)),  # a new line, said whole
        (192, "engine", DecisionChanged(192, Decision.SPEAK)),
        (240, "engine", DecisionChanged(240, Decision.LISTEN)),
    ]
    lines = full(events, end_tick=300)
    assert lines[1] == {
        "tick": 80,
        "side": "avatar",
        "text": "Duet is an app for talking with an avatar, face to face.",
        "cut_tick": 143,
        "cut": "barge_in",
    }
    assert lines[3] == {"tick": 192, "side": "avatar", "text": "Duet is an app."}


def test_a_flush_said_again_does_not_cut_the_next_line() -> None:
    """The app's own flush and the model's for one barge-in can both be logged: the second one,
    arriving after a new line began, is the same cut, not a cut of the new line."""
    events: list[tuple[int, str, object]] = [
        (10, "engine", Transcript(10, "avatar", "Duet is an app for talking,", True)),
        (10, "engine", DecisionChanged(10, Decision.SPEAK)),
        (30, "engine", FlushOut(25, "barge_in")),
        (30, "engine", DecisionChanged(30, Decision.LISTEN)),
        (50, "engine", Transcript(50, "avatar", "Ask me anything.", True)),
        (50, "engine", DecisionChanged(50, Decision.SPEAK)),
        (52, "client", FlushOut(25, "barge_in")),  # the same cut, logged late
        (90, "engine", DecisionChanged(90, Decision.LISTEN)),
    ]
    lines = full(events, end_tick=200)
    assert lines[0]["cut_tick"] == 25 and lines[0]["cut"] == "barge_in"
    assert lines[1] == {"tick": 50, "side": "avatar", "text": "Ask me anything."}


def test_parts_after_the_cut_were_not_heard() -> None:
    events: list[tuple[int, str, object]] = [
        (10, "engine", Transcript(10, "avatar", "Duet is an app,", True)),
        (10, "engine", DecisionChanged(10, Decision.SPEAK)),
        (40, "engine", Transcript(40, "avatar", "face to face.", True)),
        (44, "engine", FlushOut(38, "client")),  # an operator's stop: from 38 on nothing played
        (60, "engine", Transcript(60, "avatar", "Ask me.", True)),
        (60, "engine", DecisionChanged(60, Decision.SPEAK)),
        (64, "engine", FlushOut(55, "barge_in")),  # dropped before its first tick
        (70, "engine", Transcript(70, "avatar", "Then", True)),
        (70, "engine", DecisionChanged(70, Decision.SPEAK)),
        (80, "engine", DecisionChanged(80, Decision.LISTEN)),  # mid-sentence: it stopped there
        (90, "engine", Transcript(90, "avatar", "Okay", True)),
        (90, "engine", DecisionChanged(90, Decision.YIELD)),  # a model's yield without a FlushOut
    ]
    assert full(events) == [
        {
            "tick": 10,
            "side": "avatar",
            "text": "Duet is an app,",
            "cut_tick": 38,
            "cut": "client",
            "unheard": "face to face.",
        },
        {"tick": 60, "side": "avatar", "text": "Ask me.", "cut_tick": 55, "cut": "barge_in", "heard": False},
        {"tick": 70, "side": "avatar", "text": "Then", "cut_tick": 80, "cut": "stopped"},
        {"tick": 90, "side": "avatar", "text": "Okay", "cut_tick": 90, "cut": "yield", "heard": False},
    ]


def test_the_files_end_cuts_what_the_avatar_was_saying() -> None:
    answer: list[tuple[int, str, object]] = [
        (68, "engine", Transcript(68, "avatar", "We make Duet,", True)),
        (68, "engine", DecisionChanged(68, Decision.SPEAK)),
        (96, "engine", Transcript(96, "avatar", "an avatar you can talk to.", True)),
    ]
    # still speaking when the file (its avatar track) ends at tick 136
    assert full(answer, end_tick=136)[0]["cut"] == "file_end"
    assert full(answer, end_tick=136)[0]["cut_tick"] == 136
    # it stopped speaking later than the file's end
    done = [*answer, (200, "engine", DecisionChanged(200, Decision.LISTEN))]
    assert full(done, end_tick=136)[0]["cut_tick"] == 136
    assert "cut" not in full(done, end_tick=300)[0]  # the whole answer is in the file
    # a file cut mid-answer: the part said after its end was not heard
    line = full(done, end_tick=90)[0]
    assert (line["text"], line["unheard"], line["cut_tick"]) == (
        "We make Duet,",
        "an avatar you can talk to.",
        90,
    )
    # a model that says nothing about speaking: no claim
    assert "cut" not in full([answer[0], answer[2]], end_tick=100)[0]


def test_show_marks_operator_lines_and_cuts() -> None:
    from engine.cli.show import _conversation_lines

    conversation = [
        {"tick": 56, "side": "user", "text": "what is this"},
        {"tick": 62, "side": "user", "text": "hello", "typed": True},
        {"tick": 80, "side": "avatar", "text": "Duet is an app,", "cut_tick": 103, "cut": "operator"},
        {"tick": 116, "side": "avatar", "text": "Hi", "operator": True},
        {"tick": 130, "side": "avatar", "text": "Ask.", "cut_tick": 125, "cut": "barge_in", "heard": False},
        {"tick": 140, "side": "avatar", "text": "Bye", "operator": True, "said": False},
    ]
    assert _conversation_lines(conversation) == [
        "[  2.24 s] user  : what is this",
        "[  2.48 s] user (typed): hello",
        "[  3.20 s] avatar: Duet is an app, … [cut off at 4.12 s: an operator line]",
        "[  4.64 s] avatar (operator): Hi",
        "[  5.20 s] avatar: Ask. … [cut off at 5.00 s, before it was heard: barge-in]",
        "[  5.60 s] avatar (operator, not said): Bye",
    ]

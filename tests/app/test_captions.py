"""Captions: partials replaced in place, withdrawn partials removed, typed lines shown once."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from app.conversation import Conversation

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("qt_clean")]


def lines(conv: Conversation) -> list[tuple[str, str, bool]]:
    return [(c.side, c.text, c.final) for c in conv.captions]


def test_partials_are_replaced_then_closed(qapp: QApplication) -> None:
    conv = Conversation()
    conv.transcript("user", "what", False)
    conv.transcript("user", "what is", False)
    conv.transcript("avatar", "Hello.", True)
    conv.transcript("user", "what is duet", True)
    assert lines(conv) == [("user", "what is duet", True), ("avatar", "Hello.", True)]


def test_an_empty_final_withdraws_the_open_partial(qapp: QApplication) -> None:
    conv = Conversation()
    conv.transcript("user", "how are you", True)
    conv.transcript("user", "hm", False)  # a cough started a partial...
    changes = []
    conv.changed.connect(lambda: changes.append(1))
    conv.transcript("user", "", True)  # ...and the engine withdrew it
    assert lines(conv) == [("user", "how are you", True)] and changes
    conv.transcript("user", "", True)  # nothing open: nothing happens
    assert lines(conv) == [("user", "how are you", True)]


def test_typed_line_is_shown_once_and_speech_partials_survive_it(qapp: QApplication) -> None:
    conv = Conversation()
    conv.transcript("user", "and also", False)  # the user was talking...
    conv.typed("hello there")  # ...and typed a line
    conv.transcript("user", "hello there", True)  # the engine's echo of the typed line
    assert lines(conv) == [("user", "and also", False), ("user", "hello there", True)]
    conv.transcript("user", "and also this", True)  # the spoken turn closes its own caption
    assert lines(conv) == [("user", "and also this", True), ("user", "hello there", True)]
    conv.transcript("user", "hello there", True)  # said again out loud: a new line this time
    assert [t for _, t, _ in lines(conv)].count("hello there") == 2


def test_a_sentence_said_in_parts_is_one_line(qapp: QApplication) -> None:
    """The voice says a long sentence in parts: one caption; a new sentence, or anything from the
    user in between, starts a new one."""
    conv = Conversation()
    conv.transcript("avatar", "Duet is an app for talking with an avatar,", True)
    conv.transcript("avatar", "face to face.", True)
    conv.transcript("avatar", "I listen while I speak.", True)
    conv.transcript("avatar", "And then,", True)
    conv.transcript("user", "wait", False)  # the user came in
    conv.transcript("avatar", "as I said", True)
    assert lines(conv) == [
        ("avatar", "Duet is an app for talking with an avatar, face to face.", True),
        ("avatar", "I listen while I speak.", True),
        ("avatar", "And then,", True),
        ("user", "wait", False),
        ("avatar", "as I said", True),
    ]


def test_the_panel_says_how_to_start_until_the_first_caption(qapp: QApplication) -> None:
    from app.widgets import CaptionPanel

    conv = Conversation()
    panel = CaptionPanel(conv)
    panel.show()
    assert panel.empty_hint.isVisible() and "Just talk" in panel.empty_hint.text()
    conv.transcript("avatar", "Hello.", True)
    assert not panel.empty_hint.isVisible() and panel.texts() == [("avatar", "Hello.", True)]
    conv.clear()  # a new session
    assert panel.empty_hint.isVisible() and panel.texts() == []
    panel.close()


def test_a_line_that_becomes_final_loses_the_partial_colour(qapp: QApplication) -> None:
    """A partial is drawn grey; once final it is drawn like any final line (the label's colour, not
    only its frame's, follows the [partial] rule)."""
    from PySide6.QtGui import QPalette

    from app.theme import STYLESHEET
    from app.widgets import CaptionPanel

    conv = Conversation()
    panel = CaptionPanel(conv)
    panel.setStyleSheet(STYLESHEET)
    panel.show()
    conv.transcript("user", "what is", False)
    label = panel._bubbles[0].label
    partial = label.palette().color(QPalette.ColorRole.WindowText).name()
    conv.transcript("user", "what is this", True)
    final = label.palette().color(QPalette.ColorRole.WindowText).name()
    conv.transcript("user", "and", False)  # a new partial after it: grey again
    again = panel._bubbles[1].label.palette().color(QPalette.ColorRole.WindowText).name()
    panel.close()
    assert partial == "#9aa3b5" == again
    assert final != partial


def test_the_state_pill_keeps_its_width_as_the_state_changes(qapp: QApplication) -> None:
    """The buttons beside it must not move under the user's pointer with every state change."""
    from PySide6.QtWidgets import QHBoxLayout, QLineEdit, QWidget

    from app.theme import STYLESHEET
    from app.widgets import StatePill

    bar = QWidget()
    bar.setStyleSheet(STYLESHEET)
    lay = QHBoxLayout(bar)
    pill = StatePill()
    lay.addWidget(pill)
    lay.addWidget(QLineEdit(), 1)
    bar.resize(800, 40)
    bar.show()
    widths = set()
    for state in ("idle", "listening", "thinking", "speaking", "no session", "starting", "idle"):
        pill.set_state(state)
        qapp.processEvents()
        widths.add(pill.width())
    assert pill.text() == "ready"  # idle: waiting for you, still hearing
    bar.close()
    assert len(widths) == 1 and widths.pop() >= pill.fontMetrics().horizontalAdvance("no session")

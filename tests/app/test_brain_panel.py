"""The Answers panel: switch the avatar's replies to a chat server (real HTTP, local fake) and back."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from app.brain_panel import check_llm

from ..lite.fake_llm import FakeLlm

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot

    from app.window import MainWindow

    from .conftest import DuetWindow

pytestmark = [pytest.mark.gui, pytest.mark.slow]


def test_check_llm_explains_what_is_wrong() -> None:
    assert check_llm("http://127.0.0.1:11434/v1", "llama3.2") == ""
    assert "http://" in check_llm("127.0.0.1:11434", "llama3.2")
    assert "http://" in check_llm("ftp://host/v1", "x")
    assert "model name" in check_llm("https://host/v1", "  ")


def ask(w: MainWindow, qtbot: QtBot, text: str) -> str:
    n = sum(1 for side, _, _ in w.captions.texts() if side == "avatar")
    w.text_box.setText(text)
    qtbot.keyClick(w.text_box, "\r")
    answered: Callable[[], bool] = lambda: sum(1 for side, _, _ in w.captions.texts() if side == "avatar") > n  # noqa: E731
    qtbot.waitUntil(answered, timeout=30_000)
    last = w.core.conversation.last("avatar")
    assert last is not None
    return last.text


def test_answers_switch_to_a_chat_server_and_back(
    duet_window: DuetWindow, qtbot: QtBot, pipewire: None
) -> None:
    with FakeLlm("Hello from the chat server. Nice to meet you.") as server:
        w = duet_window("lite", persona="guide")
        qtbot.waitUntil(lambda: w.core.session_open, timeout=180_000)
        panel = w.brain_panel
        assert panel.kind.currentData() == "script" and not panel.url.isEnabled()
        panel.kind.setCurrentIndex(panel.kind.findData("llm"))
        assert panel.url.isEnabled()
        panel.url.setText("localhost:11434")
        panel.model.setText("tiny")
        assert not panel.apply()  # a bad URL is explained, nothing changes
        assert "http://" in panel.note.text()
        assert w.settings.brain == "script" and w.core.spec.brain == "script"

        panel.url.setText(server.url)
        assert panel.apply()
        assert (w.settings.brain, w.settings.llm_url, w.settings.llm_model) == ("llm", server.url, "tiny")
        assert (w.core.spec.brain, w.core.spec.llm_url, w.core.spec.llm_model) == ("llm", server.url, "tiny")
        qtbot.waitUntil(lambda: w.core.session_open, timeout=30_000)
        assert ask(w, qtbot, "Who are you?").startswith("Hello from the chat server.")
        request = server.requests[-1]["body"]
        assert request["model"] == "tiny" and request["stream"] is True
        assert request["messages"][-1]["content"] == "Who are you?"

        panel.kind.setCurrentIndex(panel.kind.findData("script"))  # in effect at once, no Apply
        assert w.core.spec.brain == "script" and w.settings.llm_url == server.url  # kept for next time
        assert not panel.apply_button.isEnabled()
        qtbot.waitUntil(lambda: w.core.session_open, timeout=30_000)
        n_requests = len(server.requests)
        assert ask(w, qtbot, "What is Duet?").startswith("Duet is an app")
        assert len(server.requests) == n_requests  # the script answered, not the server
        said = w.core.conversation.last("avatar")
        assert panel.apply()  # nothing changed: the session stays open, the conversation too
        assert w.core.session_open and w.core.conversation.last("avatar") is said

    # the server is gone: the script answers, and the window says why
    panel.kind.setCurrentIndex(panel.kind.findData("llm"))
    assert panel.apply()
    qtbot.waitUntil(lambda: w.core.session_open, timeout=30_000)
    assert ask(w, qtbot, "What is Duet?").startswith("Duet is an app")
    qtbot.waitUntil(lambda: w.banner.isVisible(), timeout=10_000)
    assert w.banner.level == "warn"
    assert w.banner.label.text().startswith("Answers: the chat server did not answer (")
    assert w.banner.label.text().endswith("the persona script answered instead.")

"""The LLM brain against a local fake OpenAI-compatible server (real HTTP, streaming SSE)."""

from __future__ import annotations

import socket
import threading
from typing import TYPE_CHECKING, Any

import pytest

from engine.models.lite.brain import ScriptBrain
from engine.models.lite.llm import LlmBrain
from engine.models.lite.persona import Persona, load_persona
from engine.protocol import Decision, DecisionChanged, SessionSpec, Transcript, UnitIn

from .fake_llm import FakeLlm

if TYPE_CHECKING:
    from engine.models.lite.model import LiteModel


@pytest.fixture(scope="module")
def guide() -> Persona:
    return load_persona("guide")


def _brain(url: str, guide: Persona, **kw: Any) -> LlmBrain:
    return LlmBrain(url, "fake-model", guide, fallback=ScriptBrain(guide), **kw)


def test_streams_sentence_by_sentence(guide: Persona) -> None:
    with FakeLlm() as server:
        server.delay_s = 0.05
        brain = _brain(server.url, guide)
        it = brain.reply("what is duet", threading.Event())
        first = next(it)
        # the first sentence is handed on while the server is still streaming the rest
        assert first == "Hello from the model."
        assert len(server.requests) == 1
        rest = list(it)
        assert rest == ["This is a second sentence.", "Bye now!"]
        assert brain.last_source == "llm"
        req = server.requests[0]
        assert req["path"] == "/v1/chat/completions"
        body = req["body"]
        assert body["stream"] is True and body["model"] == "fake-model"
        assert body["messages"][0]["role"] == "system" and "Ada" in body["messages"][0]["content"]
        assert body["messages"][-1] == {"role": "user", "content": "what is duet"}
        # the conversation continues with history
        list(brain.reply("and then", threading.Event()))
        msgs = server.requests[1]["body"]["messages"]
        assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(60)  # a hang guard: a refused connection must not hang the reply
def test_server_down_falls_back_to_script(guide: Persona) -> None:
    brain = _brain(f"http://127.0.0.1:{_free_port()}/v1", guide)
    said = list(brain.reply("what is duet", threading.Event()))
    assert said[0].startswith("Duet is an app")  # the scripted answer
    assert brain.last_source == "script" and "connect" in brain.last_error


def test_slow_first_token_falls_back(guide: Persona) -> None:
    with FakeLlm() as server:
        server.mode, server.delay_s = "slow_start", 10.0
        brain = _brain(server.url, guide, first_token_timeout_s=0.5)
        said = list(brain.reply("can i interrupt you", threading.Event()))
        assert said[0].startswith("Yes, just start talking")
        assert brain.last_source == "script" and "no answer" in brain.last_error


def test_stalled_stream_ends_after_last_sentence(guide: Persona) -> None:
    with FakeLlm() as server:
        server.mode = "stall"
        brain = _brain(server.url, guide, idle_timeout_s=0.5)
        said = list(brain.reply("hello", threading.Event()))
        assert said == ["Hello from the model."]
        assert brain.last_source == "llm"


@pytest.mark.parametrize("mode", ["error", "garbage"])
def test_bad_server_replies_fall_back(guide: Persona, mode: str) -> None:
    with FakeLlm() as server:
        server.mode = mode
        brain = _brain(server.url, guide)
        said = list(brain.reply("what is duet", threading.Event()))
        assert said[0].startswith("Duet is an app")
        assert brain.last_source == "script"
        assert ("500" in brain.last_error) if mode == "error" else ("malformed" in brain.last_error)


def test_cancel_stops_streaming(guide: Persona) -> None:
    with FakeLlm() as server:
        server.delay_s = 0.2
        brain = _brain(server.url, guide)
        cancel = threading.Event()
        it = brain.reply("hi", cancel)
        assert next(it) == "Hello from the model."
        cancel.set()
        assert list(it) == []


def test_bad_settings_are_explained(guide: Persona) -> None:
    with pytest.raises(ValueError, match="http://host"):
        LlmBrain("localhost:11434", "m", guide)
    with pytest.raises(ValueError, match="model name"):
        LlmBrain("http://127.0.0.1:1/v1", " ", guide)


def test_lite_model_speaks_the_llm_reply(lite_model: LiteModel) -> None:
    """Typed text through the whole model with brain=llm: the avatar says the streamed reply."""
    with FakeLlm() as server:
        spec = SessionSpec(
            brain="llm",
            llm_url=server.url,
            llm_model="fake",
            frame_size=128,
            options={"tts_wait_ms": "10000"},
        )
        lite_model.open(spec)
        lite_model.user_text("tell me something", operator=False)
        said = []
        for u in range(60):
            out = lite_model.step(UnitIn.silent(u * 4, 4))
            said += [e.text for e in out.events if isinstance(e, Transcript) and e.side == "avatar"]
            if any(isinstance(e, DecisionChanged) and e.decision is Decision.LISTEN for e in out.events):
                break  # the answer is over
        assert said == ["Hello from the model.", "This is a second sentence.", "Bye now!"]
        assert out.frames.shape == (4, 128, 128, 3) and out.frames.any()


def test_lite_model_with_unusable_llm_settings_uses_the_script(lite_model: LiteModel) -> None:
    from engine.protocol import ErrorEvent

    lite_model.open(SessionSpec(brain="llm", llm_url="", llm_model="", frame_size=128))
    out = lite_model.step(UnitIn.silent(0, 4))
    errors = [e for e in out.events if isinstance(e, ErrorEvent)]
    assert len(errors) == 1 and "URL" in errors[0].message and "script" in errors[0].message
    assert not errors[0].fatal
    assert lite_model.brain is lite_model.script


def test_lite_model_says_once_when_the_chat_server_is_down(lite_model: LiteModel) -> None:
    """Nothing listens at the URL: the script answers, and the model says why once (not on every
    turn), so the app can tell the user the answers are the script's."""
    from engine.protocol import ErrorEvent

    spec = SessionSpec(
        brain="llm",
        llm_url="http://127.0.0.1:9/v1",
        llm_model="x",
        frame_size=128,
        options={"tts_wait_ms": "10000"},
    )
    lite_model.open(spec)
    errors: list[ErrorEvent] = []
    said: list[str] = []
    u = 0
    for turn in ("what is duet", "how does it work"):
        lite_model.user_text(turn, operator=False)
        for _ in range(150):
            out = lite_model.step(UnitIn.silent(u * 4, 4))
            u += 1
            errors += [e for e in out.events if isinstance(e, ErrorEvent)]
            said += [e.text for e in out.events if isinstance(e, Transcript) and e.side == "avatar"]
            if any(isinstance(e, DecisionChanged) and e.decision is Decision.LISTEN for e in out.events):
                break
    assert said and said[0].startswith("Duet is an app")  # the persona script answered both turns
    assert any(x.startswith("Every hundred and sixty milliseconds") for x in said)
    assert [(e.code, e.fatal) for e in errors] == [("llm", False)]
    assert errors[0].message.startswith("the chat server did not answer (")
    assert errors[0].message.endswith("the persona script answered instead")

"""The LLM brain against awkward chat servers (real HTTP on 127.0.0.1, scripted replies): slow
streams, reasoning models, markdown, non-streamed JSON, empty and stalled streams, keep-alives,
Azure's empty choices, API keys and URL mistakes. Each failure must reach the user as a warning."""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest

from engine.models.lite.brain import ScriptBrain
from engine.models.lite.llm import LlmBrain, api_key_from_env
from engine.models.lite.persona import Persona, load_persona
from engine.protocol import Decision, DecisionChanged, ErrorEvent, SessionSpec, Transcript, UnitIn

from .fake_llm import FakeLlm, delta, sse

if TYPE_CHECKING:
    from engine.models.lite.model import LiteModel

SCRIPTED = "Duet is an app"  # the guide persona's scripted answer to "what is duet"


@pytest.fixture(scope="module")
def guide() -> Persona:
    return load_persona("guide")


def _brain(url: str, guide: Persona, **kw: Any) -> LlmBrain:
    return LlmBrain(url, "fake-model", guide, fallback=ScriptBrain(guide), **kw)


def _words(text: str, pause_s: float) -> list[bytes | float]:
    """`text` streamed word by word, `pause_s` apart, then [DONE]."""
    out: list[bytes | float] = []
    for word in text.split(" "):
        out += [pause_s, delta(word + " ")]
    return [*out, sse("[DONE]")]


def _ask(brain: LlmBrain, text: str = "what is duet") -> list[str]:
    return list(brain.reply(text, threading.Event()))


# ---------------------------------------------------------------------- 1. deadlines
def test_a_slow_but_flowing_stream_is_used(guide: Persona) -> None:
    """The first sentence takes several first-token deadlines to complete, but words keep coming."""
    sentence = "Thank you for visiting our booth today where we show a talking avatar that runs on a laptop."
    with FakeLlm() as server:
        server.mode, server.script = "script", _words(sentence + " Ask me anything else!", 0.15)
        brain = _brain(server.url, guide, first_token_timeout_s=1.0, idle_timeout_s=1.5)
        assert _ask(brain) == [sentence, "Ask me anything else!"]
        assert brain.outcome == ("llm", "")


RUN_ON = (
    "well the fair opens at nine in the morning, the stands are in hall two and three "
    "and the talks start at ten in the big room next to the cafe where you can also get lunch "
    "but please bring your ticket because the staff at the door will want to scan it"
)  # 50 words, no sentence end


def test_a_slow_run_on_sentence_is_said_in_clauses(guide: Persona) -> None:
    """A slow server's long unpunctuated sentence: what waited clause_wait_s is said up to its
    last comma (or before "and" ...), not thrown away when the sentence wait runs out."""
    with FakeLlm() as server:
        server.mode, server.script = "script", _words(RUN_ON, 0.04)
        brain = _brain(server.url, guide, idle_timeout_s=1.0, sentence_wait_s=0.8, clause_wait_s=0.4)
        said = _ask(brain)
        assert brain.outcome == ("llm", "")
        assert " ".join(said) == RUN_ON  # every word, once, in order
        assert len(said) >= 3 and said[0].endswith(",")


def test_a_fast_run_on_sentence_is_said_every_30_words_at_most(guide: Persona) -> None:
    with FakeLlm() as server:
        server.mode, server.script = "script", [delta(RUN_ON + " "), sse("[DONE]")]
        brain = _brain(server.url, guide)
        said = _ask(brain)
        assert " ".join(said) == RUN_ON
        assert said[0] == "well the fair opens at nine in the morning,"  # its last comma in reach
        assert len(said) >= 3 and all(len(s.split()) <= 30 for s in said)


def test_reasoning_without_an_answer_gives_up_after_the_sentence_wait(guide: Persona) -> None:
    with FakeLlm() as server:
        server.mode = "script"
        server.script = [b for _ in range(40) for b in (0.05, delta("hmm ", "reasoning_content"))]
        brain = _brain(server.url, guide, idle_timeout_s=1.0, sentence_wait_s=0.5)
        said = _ask(brain)
        assert said[0].startswith(SCRIPTED)
        assert brain.outcome == (
            "script",
            "nothing to say 0.5 s after its first words, the model was still reasoning",
        )


def test_a_reply_that_goes_on_too_long_is_capped(guide: Persona) -> None:
    with FakeLlm() as server:
        server.mode, server.script = (
            "script",
            [*[b for _ in range(400) for b in (0.05, delta("More words. "))]],
        )
        brain = _brain(server.url, guide, idle_timeout_s=1.0, reply_cap_s=0.6)
        said = _ask(brain)
        assert said and set(said) <= {"More words. More words.", "More words."}
        assert brain.outcome == ("llm", "its reply took longer than 0.6 s")


# ---------------------------------------------------------------------- 2. reasoning models
def test_think_blocks_and_reasoning_fields_are_not_said(guide: Persona) -> None:
    with FakeLlm() as server:
        server.mode = "script"
        server.script = [
            delta("Let me think about the booth", "reasoning_content"),
            delta("and more", "reasoning"),
            delta("<th"),
            delta("ink>\nThe user asks. I should be brief.\n</thi"),
            delta("nk>\n\nWelcome to the booth, we are glad you came. "),
            delta("<think>and an afterthought that never ends"),
            sse("[DONE]"),
        ]
        brain = _brain(server.url, guide)
        assert _ask(brain) == ["Welcome to the booth, we are glad you came."]
        assert brain.history[-1] == {
            "role": "assistant",
            "content": "Welcome to the booth, we are glad you came.",
        }


def test_a_reply_that_is_only_reasoning_falls_back_and_says_why(guide: Persona) -> None:
    with FakeLlm() as server:
        server.mode = "script"
        server.script = [delta("<think>Hmm. Let me see. "), delta("Still thinking.</think>"), sse("[DONE]")]
        brain = _brain(server.url, guide)
        assert _ask(brain)[0].startswith(SCRIPTED)
        assert brain.outcome == ("script", "no text in its reply (only its reasoning)")


# ---------------------------------------------------------------------- 3. markdown
def test_markdown_replies_are_said_and_captioned_as_plain_text(guide: Persona) -> None:
    md = (
        "**Sure!** Here are the options:\n\n1. *Lite* model 🚀\n2. `streamer` model\n\n"
        "```python\nprint('hello')\n```\nSee https://example.com/docs?x=1 for details. Price: $1,299.99 😀"
    )
    with FakeLlm() as server:
        server.mode = "script"
        server.script = [*[delta(md[i : i + 6]) for i in range(0, len(md), 6)], sse("[DONE]")]
        brain = _brain(server.url, guide)
        assert _ask(brain) == [
            "Sure! Here are the options.",
            "Lite model.",
            "streamer model.",
            "See example.com for details.",
            "Price: $1,299.99",
        ]


# ---------------------------------------------------------------------- 4. silent fallbacks
@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_a_server_that_ignores_stream_true_is_understood(guide: Persona, content_type: str) -> None:
    answer = "Hello from the model. This is a second sentence. Bye now!"
    completion = {"object": "chat.completion", "choices": [{"index": 0, "message": {"content": answer}}]}
    with FakeLlm() as server:
        server.mode, server.content_type, server.body = "raw", content_type, json.dumps(completion).encode()
        brain = _brain(server.url, guide)
        assert _ask(brain) == ["Hello from the model.", "This is a second sentence.", "Bye now!"]
        assert brain.outcome == ("llm", "")


def test_a_stream_without_text_falls_back_and_says_why(guide: Persona) -> None:
    with FakeLlm() as server:
        server.mode = "script"
        server.script = [
            sse({"choices": [{"index": 0, "delta": {"role": "assistant"}}]}),
            sse({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
            sse("[DONE]"),
        ]
        brain = _brain(server.url, guide)
        assert _ask(brain)[0].startswith(SCRIPTED)
        assert brain.outcome == ("script", "no text in its reply")


def test_an_error_event_in_the_stream_is_reported(guide: Persona) -> None:
    with FakeLlm() as server:
        server.mode, server.script = "script", [sse({"error": {"message": "out of memory"}})]
        brain = _brain(server.url, guide)
        assert _ask(brain)[0].startswith(SCRIPTED)
        assert brain.last_error == "it reported an error: out of memory"


def test_a_sentence_ending_in_a_number_is_said_when_the_stream_breaks_off(guide: Persona) -> None:
    with FakeLlm() as server:
        server.mode = "script"
        server.script = [delta("The ticket costs 5."), 0.4, sse({"error": {"message": "overloaded"}})]
        brain = _brain(server.url, guide)
        assert _ask(brain) == ["The ticket costs 5."]
        assert brain.outcome == ("llm", "it reported an error: overloaded")


def test_a_good_reply_clears_the_last_error(guide: Persona) -> None:
    with FakeLlm() as server:
        server.mode = "error"
        brain = _brain(server.url, guide)
        _ask(brain)
        assert brain.outcome[0] == "script" and "500" in brain.last_error
        server.mode = "ok"
        assert _ask(brain, "and now") == ["Hello from the model.", "This is a second sentence.", "Bye now!"]
        assert brain.outcome == ("llm", "") and brain.last_error == ""


# ---------------------------------------------------------------------- 5. Azure
def test_chunks_with_empty_choices_are_skipped(guide: Persona) -> None:
    with FakeLlm() as server:
        server.mode = "script"
        server.script = [
            sse({"id": "", "choices": [], "prompt_filter_results": [{"prompt_index": 0}]}),
            delta("Hello from Azure today. "),
            sse({"id": "x", "choices": [], "usage": {"total_tokens": 9}}),
            sse("[DONE]"),
        ]
        brain = _brain(server.url, guide)
        assert _ask(brain) == ["Hello from Azure today."]
        assert brain.outcome == ("llm", "")


# ---------------------------------------------------------------------- 6. API key
def test_the_api_key_comes_from_the_environment() -> None:
    assert api_key_from_env({"DUET_LLM_API_KEY": " k1 ", "OPENAI_API_KEY": "k2"}) == "k1"
    assert api_key_from_env({"DUET_LLM_API_KEY": "", "OPENAI_API_KEY": "k2"}) == "k2"
    assert api_key_from_env({}) == ""


def test_the_api_key_is_sent_and_never_shown(guide: Persona, caplog: pytest.LogCaptureFixture) -> None:
    key = "sk-secret-123"
    with FakeLlm() as server:
        brain = _brain(server.url, guide, api_key=key)
        _ask(brain)
        assert server.requests[0]["headers"]["Authorization"] == f"Bearer {key}"
        server.mode, server.status = "raw", 401
        server.content_type, server.body = (
            "application/json",
            json.dumps({"error": f"bad key {key}"}).encode(),
        )
        with caplog.at_level(logging.DEBUG):
            _ask(brain)
        assert "HTTP 401" in brain.last_error and "***" in brain.last_error
        assert key not in brain.last_error and key not in caplog.text
        nokey = _brain(server.url, guide)
        _ask(nokey)
        assert "Authorization" not in server.requests[-1]["headers"]
        assert nokey.last_error.endswith("does it need an API key (set DUET_LLM_API_KEY)?")


def test_the_lite_model_sends_the_key_from_the_environment(
    lite_model: LiteModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DUET_LLM_API_KEY", "duet-key")
    monkeypatch.setenv("OPENAI_API_KEY", "other-key")
    with FakeLlm() as server:
        said, _ = _run(lite_model, server.url, {})
        assert said == ["Hello from the model.", "This is a second sentence.", "Bye now!"]
        assert server.requests[0]["headers"]["Authorization"] == "Bearer duet-key"


# ---------------------------------------------------------------------- 7./8. keep-alives, stalls
def test_keep_alives_after_a_sentence_do_not_hold_the_turn(guide: Persona) -> None:
    with FakeLlm() as server:
        server.mode = "script"
        server.script = [
            delta("Hello from the model. "),
            *[b for _ in range(150) for b in (0.1, b": keep-alive\n\n")],  # 15 s of keep-alives
            delta("Finally the rest. "),
            sse("[DONE]"),
        ]
        brain = _brain(server.url, guide, idle_timeout_s=0.5)
        assert _ask(brain) == ["Hello from the model."]
        assert brain.outcome == ("llm", "its reply stalled: no text for 0.5 s")


def test_a_stall_mid_answer_is_a_warning_and_what_was_said_stays(lite_model: LiteModel) -> None:
    with FakeLlm() as server:
        server.mode = "stall"  # the first sentence, then nothing
        said, errors = _run(lite_model, server.url, {"llm_idle_s": "0.5"})
    assert said == ["Hello from the model."]
    assert [(e.code, e.fatal) for e in errors] == [("llm", False)]
    assert errors[0].message == (
        "the chat server stopped in the middle of an answer (its reply stalled: no text for 0.5 s); "
        "the rest was dropped"
    )


def test_an_empty_reply_is_a_warning_in_the_lite_model(lite_model: LiteModel) -> None:
    with FakeLlm() as server:
        server.mode, server.script = "script", [sse("[DONE]")]
        said, errors = _run(lite_model, server.url, {})
    assert said and said[0].startswith(SCRIPTED)
    assert [e.message for e in errors] == [
        "the chat server did not answer (no text in its reply); the persona script answered instead"
    ]


# ---------------------------------------------------------------------- 9. URLs in messages
def test_http_errors_name_the_endpoint_once(guide: Persona) -> None:
    with FakeLlm() as server:
        server.mode = "error"
        brain = _brain(server.url, guide)
        _ask(brain)
        assert brain.last_error == f"HTTP 500 from {server.url}/chat/completions: model not loaded"


def test_a_404_hints_at_the_v1_base(guide: Persona) -> None:
    with FakeLlm() as server:
        server.mode, server.status, server.content_type = "raw", 404, "text/plain"
        server.body = b"404 page not found"
        base = server.url.removesuffix("/v1")
        brain = _brain(base, guide)
        _ask(brain)
        assert brain.last_error == (
            f"HTTP 404 from {base}/chat/completions: 404 page not found; "
            "is the URL the server's OpenAI base, ending in /v1?"
        )
        # Ollama says 404 for a model it does not have: its own words are the hint
        server.content_type = "application/json"
        server.body = b'{"error": {"message": "model \\"m\\" not found, try pulling it first"}}'
        _ask(brain)
        assert brain.last_error.endswith(': model "m" not found, try pulling it first')


@pytest.mark.parametrize("suffix", ["/chat/completions", "/chat/completions/"])
def test_a_pasted_endpoint_url_just_works(guide: Persona, suffix: str) -> None:
    with FakeLlm() as server:
        brain = _brain(server.url + suffix, guide)
        assert _ask(brain) == ["Hello from the model.", "This is a second sentence.", "Bye now!"]
        assert server.requests[0]["path"] == "/v1/chat/completions"
        assert brain.base_url == server.url and brain.endpoint == server.url + "/chat/completions"


# ---------------------------------------------------------------------- 10. cancelled replies
def _readers() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "duet-llm"}


def test_a_reply_cancelled_before_it_began_sends_nothing(guide: Persona) -> None:
    with FakeLlm() as server:
        brain = _brain(server.url, guide)
        before = _readers()
        cancel = threading.Event()
        cancel.set()
        assert list(brain.reply("hello", cancel)) == []
        time.sleep(0.3)  # time for a reader to connect and ask, had one been started
        assert server.requests == [] and _readers() <= before


def test_a_reply_cancelled_while_connecting_sends_nothing(
    guide: Persona, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cancel lands after the reader made its connection object but before it connected:
    reply()'s abort finds no socket; the reader must see that it was abandoned and not ask."""
    cancel, gone = threading.Event(), threading.Event()
    connect = http.client.HTTPConnection.connect

    def late_connect(conn: http.client.HTTPConnection) -> None:
        cancel.set()  # the user barges in ...
        gone.wait(5)  # ... and reply() has returned before the connection is made
        connect(conn)

    monkeypatch.setattr(http.client.HTTPConnection, "connect", late_connect)
    with FakeLlm("One two three four five six seven eight nine ten. " * 20) as server:
        server.delay_s = 0.05
        brain = _brain(server.url, guide)
        before = _readers()
        assert list(brain.reply("hello", cancel)) == []
        (reader,) = _readers() - before
        gone.set()
        reader.join(timeout=2.0)
        assert not reader.is_alive()
        assert server.requests == []


# ---------------------------------------------------------------------- helpers
def _run(lite_model: LiteModel, url: str, options: dict[str, str]) -> tuple[list[str], list[ErrorEvent]]:
    """One typed question through the whole lite model with brain=llm: (the avatar's captions,
    the model's error events), until the answer is over."""
    spec = SessionSpec(
        brain="llm",
        llm_url=url,
        llm_model="fake",
        frame_size=128,
        options={"tts_wait_ms": "10000", **options},
    )
    lite_model.open(spec)
    lite_model.user_text("what is duet", operator=False)
    said: list[str] = []
    errors: list[ErrorEvent] = []
    over = -1  # units run since the answer ended (a warning may come with the next step)
    for u in range(200):
        out = lite_model.step(UnitIn.silent(u * 4, 4))
        said += [e.text for e in out.events if isinstance(e, Transcript) and e.side == "avatar"]
        errors += [e for e in out.events if isinstance(e, ErrorEvent)]
        if any(isinstance(e, DecisionChanged) and e.decision is Decision.LISTEN for e in out.events):
            over = 0
        elif over >= 0:
            over += 1
        if over >= 2:
            break
    return said, errors

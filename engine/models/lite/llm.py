"""LlmBrain: streams answers from an OpenAI-compatible chat server (Ollama, llama.cpp, vLLM, ...).

POST {base_url}/chat/completions with stream=true; the reply arrives as server-sent events
(`data: {json}` lines, ending with `data: [DONE]`). A server that ignores stream=true and sends
one whole JSON completion is understood too. Sentences are handed on as soon as they end, cleaned
for speech and captions (llm_text.py: no <think> blocks, markdown, code blocks or emoji).

Deadlines (all measured from what the server sends as text, content or reasoning; SSE comments
and keep-alives do not count):
  first_token_timeout_s  (4 s, session option llm_first_s) for the first text of the reply;
  idle_timeout_s         (3 s, llm_idle_s) the longest gap between two pieces of text;
  clause_wait_s          (4 s) the longest that words wait for their sentence to end: then they are
                         said up to their last clause boundary (, ; : dash, before "and" ...), as
                         are the first 30 words of a longer run-on sentence right away;
  sentence_wait_s        (8 s) once text flows, for something to say (missed only when nothing
                         sayable came: the model was still reasoning, or sent only code or emoji);
  reply_cap_s            (90 s) for the whole reply.
Before the first sentence a missed deadline (or an unreachable, erroring or silent server) makes
the persona script answer instead; after it the answer ends with the last complete sentence.
Either way `last_error` says why (the model reports it once as a warning), and a clean reply
clears it. An API key (`DUET_LLM_API_KEY`, else `OPENAI_API_KEY`) is sent as a Bearer token.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import queue
import socket
import threading
import time
import urllib.parse
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .brain import ScriptBrain
from .llm_text import ReplyText
from .persona import Persona

log = logging.getLogger(__name__)

_END = object()  # stream finished normally
_ENDPOINT = "/chat/completions"
_PAUSE_S = 0.25  # the stream has been quiet this long (s): say what is complete
_RUN_ON_WORDS = 30  # words waiting for their sentence to end that are said (up to a clause) at once
_MAX_LINE = 1 << 20  # bytes: the longest event line read
_MAX_BODY = 4 << 20  # bytes: the largest whole (non-streamed) reply read


def api_key_from_env(environ: Mapping[str, str] | None = None) -> str:
    """The chat server's API key: DUET_LLM_API_KEY, else OPENAI_API_KEY ("" when neither is set)."""
    env = os.environ if environ is None else environ
    return env.get("DUET_LLM_API_KEY", "").strip() or env.get("OPENAI_API_KEY", "").strip()


@dataclass(frozen=True)
class _Piece:
    """Text from the server: content ("" when the delta carried only reasoning)."""

    text: str
    t: float  # time.monotonic() when it arrived (s)


class LlmError(RuntimeError):
    pass


class LlmBrain:
    name = "llm"

    def __init__(
        self,
        base_url: str,
        model: str,
        persona: Persona,
        fallback: ScriptBrain | None = None,
        connect_timeout_s: float = 1.0,
        first_token_timeout_s: float = 4.0,
        idle_timeout_s: float = 3.0,
        max_history: int = 8,
        api_key: str = "",
        sentence_wait_s: float = 8.0,
        reply_cap_s: float = 90.0,
        clause_wait_s: float = 4.0,
    ) -> None:
        parsed = urllib.parse.urlsplit(base_url.strip())
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"LLM URL must look like http://host:port/v1, got {base_url!r}")
        if not model.strip():
            raise ValueError("LLM model name is empty (e.g. llama3.2 for Ollama)")
        path = parsed.path.rstrip("/")
        if path.endswith(_ENDPOINT):  # the whole endpoint was pasted: keep its base
            path = path[: -len(_ENDPOINT)]
        host = parsed.netloc.rpartition("@")[2]  # never show user:password@ in messages
        self.base_url = urllib.parse.urlunsplit((parsed.scheme, host, path, "", ""))
        self.endpoint = self.base_url + _ENDPOINT  # for messages
        self._path = path + _ENDPOINT + (f"?{parsed.query}" if parsed.query else "")  # request target
        self._parsed = parsed
        self.model = model.strip()
        self.persona = persona
        self.fallback = fallback or ScriptBrain(persona)
        self.connect_timeout_s = connect_timeout_s
        self.first_token_timeout_s = first_token_timeout_s
        self.idle_timeout_s = idle_timeout_s
        self.sentence_wait_s = sentence_wait_s
        self.clause_wait_s = clause_wait_s
        self.reply_cap_s = reply_cap_s
        self.max_history = max_history
        self.api_key = api_key.strip()
        self.history: list[dict[str, str]] = []
        # after each finished (not cancelled) reply:
        self.last_source = ""  # "llm" | "script" (the fallback answered)
        self.last_error = ""  # why the reply failed or ended early; "" after a clean one
        self.outcome = ("", "")  # (last_source, last_error) in one assignment, for other threads

    # ------------------------------------------------------------------ public
    def greeting(self) -> str:
        return self.persona.greeting

    def reply(self, text: str, cancel: threading.Event) -> Iterator[str]:
        if cancel.is_set():
            return  # cancelled before it began: no request (a single-slot server would queue it)
        pieces: queue.Queue[object] = queue.Queue()
        conn_box: list[http.client.HTTPConnection] = []
        abandoned = threading.Event()  # set once nobody reads the reply: the reader must not ask
        messages = [
            {"role": "system", "content": self.persona.llm_system_prompt()},
            *self.history[-2 * self.max_history :],
            {"role": "user", "content": text},
        ]
        reader = threading.Thread(
            target=self._read_stream,
            args=(messages, pieces, conn_box, abandoned),
            name="duet-llm",
            daemon=True,
        )
        t0 = time.monotonic()
        reader.start()
        said: list[str] = []
        try:
            error = yield from self._follow(pieces, cancel, t0, said)
        finally:
            abandoned.set()  # first: a reader that has not connected yet sees it after connecting
            for conn in list(conn_box):
                _abort(conn)
        if cancel.is_set():
            return
        error = self._redact(error)
        if said:
            if error:
                log.warning("LLM brain (%s, %s): answer cut short: %s", self.endpoint, self.model, error)
            self._finished("llm", error)
            self.history.append({"role": "user", "content": text})
            self.history.append({"role": "assistant", "content": " ".join(said)})
            return
        log.warning("LLM brain (%s, %s): %s; the script answers", self.endpoint, self.model, error)
        self._finished("script", error)
        yield from self.fallback.reply(text, cancel)

    def _finished(self, source: str, error: str) -> None:
        self.last_source, self.last_error = source, error
        self.outcome = (source, error)

    # ------------------------------------------------------------------ following the stream
    def _follow(
        self, pieces: queue.Queue[object], cancel: threading.Event, t0: float, said: list[str]
    ) -> Generator[str, None, str]:
        """Clean sentences of the reply as they complete (also appended to `said`); returns why
        the reply failed or ended early ("" when it ended well). t0: time.monotonic() of the request."""
        text = ReplyText()
        first = -1.0  # arrival of the first text (s, monotonic; -1: none yet)
        last = t0  # arrival of the latest text (s, monotonic)
        waiting = -1.0  # since when words wait for their sentence to end (s, monotonic; -1: none)
        reasoned = False  # reasoning-only deltas came
        while not cancel.is_set():
            try:
                item = pieces.get(timeout=0.1)
            except queue.Empty:
                now = time.monotonic()
                n = len(said)
                if now - last >= _PAUSE_S:  # the stream paused: say what is complete
                    yield from _keep(text.pause(), said)
                waiting = yield from self._run_on(text, now, first, waiting, len(said) > n, said)
                late = self._late(now, t0, first, last, bool(said), reasoned or text.saw_thinking)
                if late:
                    return late
                continue
            if item is _END:
                yield from _keep(text.finish(), said)
                if said:
                    return ""
                only = " (only its reasoning)" if reasoned or text.saw_thinking else ""
                return f"no text in its reply{only}"
            if isinstance(item, LlmError):
                yield from _keep(text.pause(final=True), said)  # a complete sentence still counts
                return str(item)
            assert isinstance(item, _Piece)
            first, last = (item.t if first < 0 else first), item.t
            reasoned |= not item.text
            n = len(said)
            yield from _keep(text.feed(item.text), said)
            waiting = yield from self._run_on(text, item.t, first, waiting, len(said) > n, said)
            late = self._late(item.t, t0, first, last, bool(said), reasoned or text.saw_thinking)
            if late:
                return late
        return ""

    def _run_on(
        self, text: ReplyText, now: float, first: float, waiting: float, cut: bool, said: list[str]
    ) -> Generator[str, None, float]:
        """Words of a run-on sentence said before it ends: its first _RUN_ON_WORDS words, or what
        has waited clause_wait_s, up to a clause boundary (a slow server's long unpunctuated
        sentence would otherwise be silence, then a missed deadline); at sentence_wait_s after the
        first text with nothing said yet, whatever words wait. Times in s, monotonic: `first` the
        first text's arrival, `waiting` since when words wait (-1: none); `cut`: a sentence was
        just said. Returns the new `waiting`."""
        words = text.waiting_words()
        hurry = not said and first >= 0 and now - first > self.sentence_wait_s
        aged = waiting >= 0 and now - waiting >= self.clause_wait_s
        due = words > 0 and not cut and (aged or hurry)
        while due or words >= _RUN_ON_WORDS:  # each take removes at least one word
            yield from _keep(text.take_clause(_RUN_ON_WORDS), said)
            cut, due = True, False
            words = text.waiting_words()
        if not words:
            return -1.0
        return now if cut or waiting < 0 else waiting  # words left after a cut are newer

    def _late(self, now: float, t0: float, first: float, last: float, said: bool, thinking: bool) -> str:
        """Which deadline has passed at `now` ("" if none); times in s, monotonic (first < 0: no
        text yet)."""
        if first < 0:
            return (
                f"no answer within {self.first_token_timeout_s:.1f} s"
                if now - t0 > self.first_token_timeout_s
                else ""
            )
        if now - last > self.idle_timeout_s:
            return f"its reply stalled: no text for {self.idle_timeout_s:.1f} s"
        if not said and now - first > self.sentence_wait_s:
            why = ", the model was still reasoning" if thinking else ""
            return f"nothing to say {self.sentence_wait_s:.1f} s after its first words{why}"
        if now - t0 > self.reply_cap_s:
            return f"its reply took longer than {self.reply_cap_s:g} s"
        return ""

    def _redact(self, message: str) -> str:
        return message.replace(self.api_key, "***") if self.api_key else message

    # ------------------------------------------------------------------ reader thread
    def _read_stream(
        self,
        messages: list[dict[str, str]],
        out: queue.Queue[object],
        conn_box: list[http.client.HTTPConnection],
        abandoned: threading.Event,
    ) -> None:
        try:
            for text in self._stream(messages, conn_box, abandoned):
                out.put(_Piece(text, time.monotonic()))
            out.put(_END)
        except LlmError as e:
            out.put(e)
        except (OSError, http.client.HTTPException, ValueError) as e:
            out.put(LlmError(f"{type(e).__name__}: {e}"))
        except Exception as e:  # a bug here must not leave reply() waiting for the idle timeout
            log.exception("LLM reader failed")
            out.put(LlmError(f"{type(e).__name__}: {e}"))

    def _stream(
        self,
        messages: list[dict[str, str]],
        conn_box: list[http.client.HTTPConnection],
        abandoned: threading.Event,
    ) -> Iterator[str]:
        """The reply's text deltas; "" for a delta with only reasoning (the server is working).
        Nothing is sent once `abandoned` is set (reply() was cancelled or closed)."""
        p = self._parsed
        cls = http.client.HTTPSConnection if p.scheme == "https" else http.client.HTTPConnection
        conn = cls(p.hostname or "", p.port, timeout=self.connect_timeout_s)
        conn_box.append(conn)
        body = json.dumps({"model": self.model, "messages": messages, "stream": True, "max_tokens": 300})
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        try:
            conn.connect()
        except OSError as e:
            raise LlmError(f"cannot connect to {self.base_url}: {e}") from None
        conn.auto_open = 0  # closed by reply() from now on: never reconnect by itself to send
        if abandoned.is_set():  # reply() gave up while we connected (its abort found no socket)
            _abort(conn)
            return
        # a backstop only: reply() keeps the deadlines (and closes the connection past them)
        backstop_s = max(self.first_token_timeout_s, self.idle_timeout_s) + 1.0
        if conn.sock is not None:
            conn.sock.settimeout(backstop_s)
        try:
            conn.request("POST", self._path, body=body.encode(), headers=headers)
            resp = conn.getresponse()
            if resp.status != 200:
                raise LlmError(self._http_error(resp.status, resp.read(2000)))
            ctype = (resp.getheader("Content-Type") or "").lower()
            if "json" in ctype and "event-stream" not in ctype:  # stream=true was ignored
                text = whole_reply(resp.read(_MAX_BODY))
                if text:
                    yield text
                return
            yield from _events(resp)
        except TimeoutError:
            raise LlmError(f"its reply stalled: nothing for {backstop_s:.1f} s") from None

    def _http_error(self, status: int, body: bytes) -> str:
        detail = error_text(body)
        msg = f"HTTP {status} from {self.endpoint}" + (f": {detail}" if detail else "")
        if status == 404 and "model" not in detail.lower():
            msg += "; is the URL the server's OpenAI base, ending in /v1?"
        elif status in (401, 403) and not self.api_key:
            msg += "; does it need an API key (set DUET_LLM_API_KEY)?"
        return msg


def _keep(sentences: list[str], said: list[str]) -> Iterator[str]:
    for sentence in sentences:
        said.append(sentence)
        yield sentence


def _abort(conn: http.client.HTTPConnection) -> None:
    """Close a connection another thread may be reading from (shutdown wakes a blocked read)."""
    sock = conn.sock
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed
            sock.shutdown(socket.SHUT_RDWR)
    conn.close()


def _events(resp: http.client.HTTPResponse) -> Iterator[str]:
    """Text deltas of a server-sent event stream (see parse_event)."""
    while True:
        raw = resp.readline(_MAX_LINE)
        if not raw:
            return  # server closed the stream without [DONE]: take what came
        line = raw.decode("utf-8", "replace").strip()
        if line.startswith("{"):  # no event stream after all: one whole JSON reply
            whole = whole_reply(raw + resp.read(_MAX_BODY))
            if whole:
                yield whole
            return
        if not line.startswith("data:"):
            continue  # blank separators, comments and keep-alives (":"), event:/id: fields
        data = line[5:].strip()
        if data == "[DONE]":
            return
        text = parse_event(data)
        if text is not None:
            yield text


def _json_reply(raw: str | bytes, what: str) -> Any:
    """A server's JSON (an event or a whole reply); LlmError if it is not JSON or reports an error."""
    try:
        event = json.loads(raw)
    except ValueError:
        raise LlmError(f"malformed {what}: {raw[:120]!r}") from None
    if isinstance(event, dict) and event.get("error"):
        raise LlmError(f"it reported an error: {_error_message(event)}")
    return event


def parse_event(data: str) -> str | None:
    """One `data:` payload -> its content text; "" when it carries only reasoning
    (reasoning_content / reasoning); None when it has no text (role-only, Azure's
    prompt_filter_results with "choices": [], a usage chunk). Raises LlmError if malformed."""
    event = _json_reply(data, "stream event")
    try:
        choices = event["choices"]
        if not choices:
            return None
        delta = choices[0].get("delta") or choices[0].get("message") or {}
        content = delta.get("content")
        if content:
            return str(content)
        return "" if delta.get("reasoning_content") or delta.get("reasoning") else None
    except (KeyError, IndexError, TypeError, AttributeError):
        raise LlmError(f"malformed stream event: {data[:120]!r}") from None


def whole_reply(body: bytes) -> str:
    """The text of a non-streamed chat completion ({"choices": [{"message": {"content": ...}}]})."""
    event = _json_reply(body, "reply")
    try:
        return str(event["choices"][0]["message"].get("content") or "")
    except (KeyError, IndexError, TypeError, AttributeError):
        raise LlmError(f"malformed reply: {body[:120]!r}") from None


def error_text(body: bytes) -> str:
    """What an error response says: its JSON error message, else its text (at most 200 chars)."""
    text = body.decode("utf-8", "replace")
    try:
        event = json.loads(text)
    except ValueError:
        event = None
    if isinstance(event, dict):
        text = _error_message(event)
    text = " ".join(text.split())
    return text[:200] + ("…" if len(text) > 200 else "")


def _error_message(event: dict[str, object]) -> str:
    """{"error": {"message": m}} / {"error": m} / {"message": m} / {"detail": m} -> m."""
    err = event.get("error", event)
    if isinstance(err, dict):
        err = err.get("message") or err.get("detail") or json.dumps(err)
    return str(err)

"""LlmBrain: streams answers from an OpenAI-compatible chat server (Ollama, llama.cpp, vLLM, ...).

POST {base_url}/chat/completions with stream=true; the reply arrives as server-sent events
(`data: {json}` lines, ending with `data: [DONE]`). Sentences are handed on as soon as they end.
Unreachable, erroring or slow servers fall back to the persona script: if the first sentence does
not arrive within `first_sentence_timeout_s` the scripted answer is spoken instead; a stream that
stalls mid-answer for `idle_timeout_s` ends the answer after the last complete sentence.
"""

from __future__ import annotations

import http.client
import json
import logging
import queue
import threading
import time
import urllib.parse
from collections.abc import Iterator

from .brain import ScriptBrain, SentenceSplitter
from .persona import Persona

log = logging.getLogger(__name__)

_END = object()  # stream finished normally


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
        first_sentence_timeout_s: float = 4.0,
        idle_timeout_s: float = 3.0,
        max_history: int = 8,
        api_key: str = "",
    ) -> None:
        parsed = urllib.parse.urlsplit(base_url.strip())
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"LLM URL must look like http://host:port/v1, got {base_url!r}")
        if not model.strip():
            raise ValueError("LLM model name is empty (e.g. llama3.2 for Ollama)")
        self.base_url = base_url.strip()
        self._parsed = parsed
        self.model = model.strip()
        self.persona = persona
        self.fallback = fallback or ScriptBrain(persona)
        self.connect_timeout_s = connect_timeout_s
        self.first_sentence_timeout_s = first_sentence_timeout_s
        self.idle_timeout_s = idle_timeout_s
        self.max_history = max_history
        self.api_key = api_key
        self.history: list[dict[str, str]] = []
        self.last_source = ""  # "llm" | "script" (fallback) after each reply
        self.last_error = ""

    # ------------------------------------------------------------------ public
    def greeting(self) -> str:
        return self.persona.greeting

    def reply(self, text: str, cancel: threading.Event) -> Iterator[str]:
        deltas: queue.Queue[object] = queue.Queue()
        conn_box: list[http.client.HTTPConnection] = []
        messages = [
            {"role": "system", "content": self.persona.llm_system_prompt()},
            *self.history[-2 * self.max_history :],
            {"role": "user", "content": text},
        ]
        reader = threading.Thread(
            target=self._read_stream, args=(messages, deltas, conn_box), name="duet-llm", daemon=True
        )
        reader.start()
        splitter = SentenceSplitter()
        said: list[str] = []
        deadline = time.monotonic() + self.first_sentence_timeout_s
        last_item = time.monotonic()
        error = ""
        try:
            while not cancel.is_set():
                timeout = (deadline - time.monotonic()) if not said else self.idle_timeout_s
                if timeout <= 0:
                    error = f"no answer within {self.first_sentence_timeout_s:.1f} s"
                    break
                try:
                    item = deltas.get(timeout=min(timeout, 0.1))
                    last_item = time.monotonic()
                except queue.Empty:
                    if time.monotonic() - last_item > 0.25:  # the stream paused: say what is complete
                        for sentence in splitter.take_complete():
                            said.append(sentence)
                            deadline = float("inf")
                            yield sentence
                    if said and not reader.is_alive() and deltas.empty():
                        break
                    continue
                if item is _END:
                    rest = splitter.finish()
                    said.extend(rest)
                    yield from rest
                    break
                if isinstance(item, LlmError):
                    error = str(item)
                    break
                for sentence in splitter.feed(str(item)):
                    said.append(sentence)
                    yield sentence
                if said:
                    deadline = float("inf")
        finally:
            for conn in conn_box:
                conn.close()
        if error:
            self.last_error = error
            log.warning("LLM brain (%s, %s): %s", self.base_url, self.model, error)
        if cancel.is_set():
            return
        if said:
            self.last_source = "llm"
            self.history.append({"role": "user", "content": text})
            self.history.append({"role": "assistant", "content": " ".join(said)})
            return
        self.last_source = "script"
        yield from self.fallback.reply(text, cancel)

    # ------------------------------------------------------------------ reader thread
    def _read_stream(
        self,
        messages: list[dict[str, str]],
        out: queue.Queue[object],
        conn_box: list[http.client.HTTPConnection],
    ) -> None:
        try:
            for delta in self._stream(messages, conn_box):
                out.put(delta)
            out.put(_END)
        except LlmError as e:
            out.put(e)
        except (OSError, http.client.HTTPException, ValueError) as e:
            out.put(LlmError(f"{type(e).__name__}: {e}"))

    def _stream(
        self, messages: list[dict[str, str]], conn_box: list[http.client.HTTPConnection]
    ) -> Iterator[str]:
        p = self._parsed
        cls = http.client.HTTPSConnection if p.scheme == "https" else http.client.HTTPConnection
        conn = cls(p.hostname or "", p.port, timeout=self.connect_timeout_s)
        conn_box.append(conn)
        body = json.dumps({"model": self.model, "messages": messages, "stream": True, "max_tokens": 300})
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        path = p.path.rstrip("/") + "/chat/completions"
        try:
            conn.connect()
        except OSError as e:
            raise LlmError(f"cannot connect to {self.base_url}: {e}") from None
        if conn.sock is not None:
            conn.sock.settimeout(max(self.first_sentence_timeout_s, self.idle_timeout_s))
        conn.request("POST", path, body=body.encode(), headers=headers)
        resp = conn.getresponse()
        if resp.status != 200:
            detail = resp.read(300).decode("utf-8", "replace")
            raise LlmError(f"HTTP {resp.status} from {self.base_url}{path}: {detail}")
        if conn.sock is not None:
            conn.sock.settimeout(self.idle_timeout_s)
        try:
            while True:
                raw = resp.readline()
                if not raw:
                    return  # server closed the stream without [DONE]: take what came
                line = raw.decode("utf-8", "replace").strip()
                if not line.startswith("data:"):
                    continue  # blank separators, comments (":"), event:/id: fields
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                try:
                    event = json.loads(data)
                    choice = event["choices"][0]
                    delta = choice.get("delta", {}).get("content") or ""
                except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                    raise LlmError(f"malformed stream event: {data[:120]!r}") from None
                if delta:
                    yield delta
        except TimeoutError:
            raise LlmError(f"stream stalled for {self.idle_timeout_s:.1f} s") from None

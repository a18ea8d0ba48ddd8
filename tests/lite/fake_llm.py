"""A local fake OpenAI-compatible chat server (real HTTP on 127.0.0.1, streaming SSE) for tests."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def sse(data: object) -> bytes:
    """One server-sent event: `data: {json}` (a str is sent as it is, e.g. "[DONE]")."""
    text = data if isinstance(data, str) else json.dumps(data)
    return f"data: {text}\n\n".encode()


def delta(content: str, field: str = "content") -> bytes:
    """A chat.completion.chunk event whose delta carries `content` in `field`."""
    return sse({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {field: content}}]})


class FakeLlm:
    """mode: "ok" | "slow_start" | "stall" | "error" | "garbage" | "script" | "raw".

    ok: streams `reply` in small pieces, `delay_s` apart, then [DONE].
    slow_start: waits `delay_s` before the first piece. stall: sends the first sentence, then
    hangs until the test ends. error: HTTP 500. garbage: a malformed event.
    script: a 200 with `content_type`, then each item of `script`: bytes are written as they are,
    a float is a pause in seconds (cut short when the test ends). raw: `status`, `content_type`
    and `body` as one whole response. Each request is recorded with its path, headers and body.
    """

    def __init__(self, reply: str = "Hello from the model. This is a second sentence. Bye now!") -> None:
        self.reply = reply
        self.mode = "ok"
        self.delay_s = 0.01
        self.requests: list[dict] = []
        self.script: list[bytes | float] = []
        self.status = 200
        self.content_type = "text/event-stream"
        self.body = b""
        self.first_piece_sent = threading.Event()
        self.release = threading.Event()  # set at teardown: hanging handlers return
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                fake.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": json.loads(body)}
                )
                if fake.mode in ("script", "raw"):
                    self._scripted()
                    return
                if fake.mode == "error":
                    self.send_response(500)
                    self.end_headers()
                    self.wfile.write(b'{"error": "model not loaded"}')
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                if fake.mode == "garbage":
                    self._event("{not json")
                    return
                if fake.mode == "slow_start":
                    fake.release.wait(fake.delay_s)
                words = fake.reply.split(" ")
                for i, word in enumerate(words):
                    piece = word if i == 0 else " " + word
                    chunk = {"choices": [{"index": 0, "delta": {"content": piece}}]}
                    if not self._event(json.dumps(chunk)):
                        return
                    fake.first_piece_sent.set()
                    if fake.mode == "stall" and word.endswith("."):
                        fake.release.wait(30)
                        return
                    time.sleep(fake.delay_s)
                self._event("[DONE]")

            def _scripted(self) -> None:
                self.send_response(fake.status)
                self.send_header("Content-Type", fake.content_type)
                if fake.mode == "raw":
                    self.send_header("Content-Length", str(len(fake.body)))
                self.end_headers()
                for item in [fake.body] if fake.mode == "raw" else fake.script:
                    if isinstance(item, float):
                        if fake.release.wait(item):
                            return
                        continue
                    try:
                        self.wfile.write(item)
                        self.wfile.flush()
                    except OSError:
                        return  # the client hung up

            def _event(self, data: str) -> bool:
                try:
                    self.wfile.write(f"data: {data}\n\n".encode())
                    self.wfile.flush()
                    return True
                except OSError:
                    return False

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeLlm:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

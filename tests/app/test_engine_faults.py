"""load_error: whether an engine that did not start failed to load its model, and why."""

from __future__ import annotations

from app.engine_faults import load_error
from engine.client import EngineStartError
from engine.protocol import ErrorEvent, Pong

EXITED = "engine 'streamer' failed to start: engine process exited with code 3 before it was ready"
LOG = (
    "\n--- engine log (/tmp/logs/duet-engine.log) ---\n"
    "2026-01-01 10:00:00,000 ERROR duet.engine [MainThread] model 'streamer' failed to load:\n"
    "Traceback (most recent call last):\n"
    '  File "engine/process/main.py", line 130, in run\n'
    "engine.hub.CheckpointError: /models/s: no config.json here\n"
    "2026-01-01 10:00:00,100 INFO duet.engine [MainThread] engine exits with code 3"
)


def test_the_engines_model_load_event_says_why() -> None:
    said = ErrorEvent(code="model_load", message="model 'streamer' failed to load: OSError: disk", fatal=True)
    events = [Pong(seq=1, sent_ns=0), ErrorEvent(code="step", message="not this one"), said]
    err = EngineStartError(EXITED + LOG)
    assert load_error(err, events, "streamer") == "model 'streamer' failed to load: OSError: disk"


def test_without_the_event_the_log_tails_exception_line_says_why() -> None:
    err = EngineStartError(EXITED + LOG)
    events: list[object] = [ErrorEvent(code="session", message="a session error is not a load error")]
    assert load_error(err, events, "streamer") == (
        "model 'streamer' failed to load: CheckpointError: /models/s: no config.json here"
    )


def test_an_exit_without_an_exception_in_the_log_is_the_exit_line() -> None:
    err = EngineStartError(EXITED + "\n--- engine log (x) ---\nsome line\nanother line")
    assert load_error(err, [], "streamer") == EXITED
    assert load_error(EngineStartError(EXITED), [], "streamer") == EXITED


def test_an_engine_that_did_not_exit_did_not_fail_to_load() -> None:
    """A start timeout, a cancel, a signal: retried like a crash, not a load error."""
    timeout = EngineStartError("engine 'streamer' was not ready within 120 s" + LOG)
    assert load_error(timeout, [], "streamer") == ""
    killed = EngineStartError(
        "engine 'lite' failed to start: engine process killed by signal SIGKILL before it was ready"
    )
    assert load_error(killed, [], "lite") == ""

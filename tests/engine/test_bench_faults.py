"""`duet-engine bench faults`: a real engine is killed and frozen, and both are reported and recovered."""

from __future__ import annotations

import json
import os
import signal

import pytest

from engine.bench import faults
from tests.support.engines import ClientFactory

pytestmark = pytest.mark.linux  # bench faults sends SIGKILL/SIGSTOP


def test_bench_faults_reports_a_crash_and_a_hang_and_restarts(capsys: pytest.CaptureFixture[str]) -> None:
    assert faults.main(["--model", "testecho", "--rounds", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["bench"] == "faults" and out["model"] == "testecho"
    # one crash and one hang were each seen as an EngineDown of the right kind, then restarted
    assert out["crash_detect"]["n"] == 1 and out["hang_detect"]["n"] == 1 and out["restart"]["n"] == 2
    # a hang is only called one after hang_timeout_s without an answer to pings
    assert out["hang_detect"]["p50_ms"] >= 1000 * out["hang_timeout_s"] - 1000 * out["ping_period_s"]
    assert set(out["met"]) == {"detect_under_2s"}


def test_bench_faults_says_why_when_the_engine_cannot_start(capsys: pytest.CaptureFixture[str]) -> None:
    assert faults.main(["--model", "nosuchmodel", "--rounds", "1"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["bench"] == "faults" and "nosuchmodel" in out["error"]
    with pytest.raises(SystemExit):
        faults.main(["--rounds", "0"])


def test_one_fault_sees_a_sigkill_as_a_crash(client_factory: ClientFactory) -> None:
    client = client_factory("testecho")
    client.start(timeout_s=60)
    old = client.pid
    assert old is not None
    detect_ms, restart_ms = faults._one_fault(client, signal.SIGKILL, "crashed")
    assert detect_ms > 0 and restart_ms > 0
    assert client.alive and client.pid != old
    with pytest.raises(ProcessLookupError):
        os.kill(old, 0)  # the killed engine is gone (reaped), not a zombie left behind
    # a fault reported as another kind is an error, not a number
    with pytest.raises(RuntimeError, match="reported as 'crashed', not 'hung'"):
        faults._one_fault(client, signal.SIGKILL, "hung")

"""`duet-engine bench faults`: how fast a crashed or hung engine is noticed, and how fast it is back.

Starts a real engine process through EngineClient (the app's own client, default hang timeout and
ping period), then for each round:
1. crash: SIGKILL the engine process; time from the kill until the client reports EngineDown
   ("crashed"), then time for restart() until Ready again;
2. hang: SIGSTOP the engine process (nothing in it runs, pings go unanswered, as with a step stuck
   in C code or a GPU driver); time until EngineDown ("hung"), then restart() (kills the frozen one).
Times are wall-clock (time.monotonic) from the signal to the event as the app's poll would see it
(the event queue is polled every 10 ms, as the app's media timer does).
Prints one JSON object; exit code 0, 1 if the engine could not be started or an event never came.
Goal (issue 2 / README): a crash or hang is reported within 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from engine.client import EngineClient, EngineStartError
from engine.protocol import EngineDown

GOAL_DETECT_MS = 2000.0
POLL_S = 0.01  # the app polls events on its 10 ms media timer
WAIT_EVENT_S = 30.0  # give up on one fault after this long (reported as an error)


def _wait_down(client: EngineClient, t0: float) -> tuple[EngineDown, float]:
    """(the EngineDown event, ms from t0 until it was polled); TimeoutError after WAIT_EVENT_S."""
    while time.monotonic() - t0 < WAIT_EVENT_S:
        for ev in client.poll_events():
            if isinstance(ev, EngineDown):
                return ev, (time.monotonic() - t0) * 1000.0
        time.sleep(POLL_S)
    raise TimeoutError(f"no EngineDown within {WAIT_EVENT_S:.0f} s")


def _stats(ms: list[float]) -> dict[str, float | int]:
    a = np.asarray(ms, np.float64)
    return {
        "n": int(a.size),
        "p50_ms": round(float(np.percentile(a, 50)), 1),
        "max_ms": round(float(a.max()), 1),
    }


def _one_fault(client: EngineClient, sig: int, expect: str) -> tuple[float, float]:
    """Send `sig` to the engine; (detect ms, restart ms). RuntimeError if the reason is not `expect`."""
    pid = client.pid
    if pid is None:
        raise RuntimeError("the engine is not running")
    client.poll_events()  # nothing queued before the fault counts
    t0 = time.monotonic()
    os.kill(pid, sig)
    down, detect_ms = _wait_down(client, t0)
    if down.reason != expect:
        raise RuntimeError(f"{signal.Signals(sig).name} was reported as {down.reason!r}, not {expect!r}")
    t1 = time.monotonic()
    client.restart()
    return detect_ms, (time.monotonic() - t1) * 1000.0


def run(model: str, rounds: int, log_dir: Path) -> dict[str, Any]:
    client = EngineClient(model=model, log_path=log_dir / "engine.log")
    detect: dict[str, list[float]] = {"crash": [], "hang": []}
    restart: list[float] = []
    t_start = time.monotonic()
    try:
        client.start()
        start_ms = (time.monotonic() - t_start) * 1000.0
        for _ in range(rounds):
            for kind, sig, reason in (("crash", signal.SIGKILL, "crashed"), ("hang", signal.SIGSTOP, "hung")):
                d, r = _one_fault(client, sig, reason)
                detect[kind].append(d)
                restart.append(r)
    finally:
        client.stop()
    worst = max(max(detect["crash"]), max(detect["hang"]))
    return {
        "bench": "faults",
        "model": model,
        "rounds": rounds,
        "hang_timeout_s": client.hang_timeout_s,
        "ping_period_s": client.ping_period_s,
        "first_start_ms": round(start_ms, 1),
        "crash_detect": _stats(detect["crash"]),
        "hang_detect": _stats(detect["hang"]),
        "restart": _stats(restart),
        "goal_detect_ms": GOAL_DETECT_MS,
        "met": {"detect_under_2s": worst < GOAL_DETECT_MS},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="duet-engine bench faults", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lite", help="model the engine runs (default lite)")
    parser.add_argument("--rounds", type=int, default=3, help="crashes and hangs each (default 3)")
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= 100:
        parser.error("--rounds must be in [1, 100]")
    if sys.platform == "win32":  # no SIGSTOP/SIGKILL to freeze or kill a process with
        print(json.dumps({"bench": "faults", "error": "needs POSIX signals (Linux or macOS)"}))
        return 1
    with tempfile.TemporaryDirectory(prefix="duet-bench-faults-") as tmp:
        try:
            result = run(args.model, args.rounds, Path(tmp))
        except (EngineStartError, RuntimeError, TimeoutError) as e:
            print(json.dumps({"bench": "faults", "model": args.model, "error": str(e)}))
            return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

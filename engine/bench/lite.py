"""`duet-engine bench lite`: response latency, barge-in latency, real-time factor and CPU per stage.

Drives LiteModel in-process, paced in real time (one unit every 160 ms, as the engine would get
them), with user speech synthesised by piper in a different voice preset than the avatar's:
1. response turns: a question, then silence until the answer has finished. Latency = end of the
   user's speech in the input -> first audible avatar sample emitted, on the tick clock.
   Split into: end-of-turn detection (VAD silence + unit boundary), then waiting for the first
   synthesised sentence (brain + tts beyond the step that detected the end).
2. barge-ins: a long answer is interrupted at varying moments. Latency = onset of the user's
   speech -> the avatar's audio stops, as heard: output that a real-time client has already
   played cannot be taken back (a FlushOut drops output from max(from_tick, the step's out tick)).
CPU: process CPU time / wall time (cores), and each stage's share from the per-step timings.
Prints one JSON object. Goals (issue 3): response p50 < 600 ms, barge-in < 200 ms, < 1 core.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from typing import Any

import numpy as np

from engine.protocol import (
    AVATAR_RATE,
    AVATAR_SAMPLES_PER_TICK,
    MIC_RATE,
    MIC_SAMPLES_PER_TICK,
    TICK_S,
    FlushOut,
    SessionSpec,
    Transcript,
    UnitIn,
)

QUESTIONS = [
    "How are you?",
    "What is your name?",
    "Thank you very much.",
    "Can I interrupt you?",
    "Does it need the internet?",
    "How do you hear me?",
]
LONG_QUESTION = "What is Duet?"
BARGE = ["Wait, stop please.", "Hold on a second.", "Sorry, one question.", "Excuse me."]
VOICED = 1e-3  # avatar audio rms per tick above this is audible
UNIT_S = 4 * TICK_S


def _user_clips(texts: list[str]) -> dict[str, np.ndarray]:
    from engine.models.lite.voice import Voice, resample

    voice = Voice("joe-warm")  # the "user": calmer and deeper than the avatar
    return {t: resample(voice.synthesize(t).pcm, AVATAR_RATE, MIC_RATE) * 0.6 for t in texts}


def _speech_bounds(clip: np.ndarray) -> tuple[int, int]:
    loud = np.nonzero(np.abs(clip) > 0.01)[0]
    return int(loud[0]), int(loud[-1]) + 1


class _Driver:
    """Feeds the model unit by unit from a growing mic buffer; records what was heard."""

    def __init__(self, model: Any, realtime: bool, echo: tuple[float, float] | None) -> None:
        self.model = model
        self.realtime = realtime
        self.echo = echo
        self.mic = np.zeros(0, np.float32)
        self.avatar: dict[int, np.ndarray] = {}  # output tick -> (960,) as heard
        self.tick = 0
        self.t0 = time.monotonic()
        self.stage_ms: dict[str, float] = defaultdict(float)
        self.steps = 0
        self.step_ms: list[float] = []
        self.last_brain_ms = 0.0

    def add(self, clip: np.ndarray, at_tick: int | None = None) -> tuple[float, float]:
        """Place `clip` at `at_tick` (default: now); returns (speech onset s, speech end s)."""
        at = (self.tick if at_tick is None else at_tick) * MIC_SAMPLES_PER_TICK
        need = at + len(clip)
        if len(self.mic) < need:
            self.mic = np.concatenate([self.mic, np.zeros(need - len(self.mic), np.float32)])
        self.mic[at : at + len(clip)] += clip
        a, b = _speech_bounds(clip)
        return (at + a) / MIC_RATE, (at + b) / MIC_RATE

    def step(self) -> tuple[Any, list]:
        lo, hi = self.tick * MIC_SAMPLES_PER_TICK, (self.tick + 4) * MIC_SAMPLES_PER_TICK
        if len(self.mic) < hi:
            self.mic = np.concatenate([self.mic, np.zeros(hi - len(self.mic), np.float32)])
        unit_mic = self.mic[lo:hi].copy()
        if self.echo is not None:
            delay = round(self.echo[0] * MIC_RATE / 1000)
            unit_mic += self.echo[1] * self._echo16(lo - delay, hi - lo)
        if self.realtime:  # the unit's audio is complete only at its end
            wait = self.t0 + (self.tick + 4) * TICK_S - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        t = time.perf_counter()
        no_camera = np.zeros((0, 1, 1, 3), np.uint8)
        out = self.model.step(UnitIn(self.tick, 4, unit_mic, no_camera, np.zeros(0, np.int64)))
        self.step_ms.append((time.perf_counter() - t) * 1000)
        self.steps += 1
        for k, v in out.timings.items():
            self.stage_ms[k] += v
        self.last_brain_ms = out.timings.get("brain", self.last_brain_ms)
        for ev in out.events:
            if isinstance(ev, FlushOut):
                for tk in [tk for tk in self.avatar if tk >= max(ev.from_tick, out.tick)]:
                    del self.avatar[tk]
        pcm = out.pcm_or_silence()
        for i in range(out.n_ticks):
            self.avatar[out.tick + i] = pcm[i * AVATAR_SAMPLES_PER_TICK : (i + 1) * AVATAR_SAMPLES_PER_TICK]
        self.tick += 4
        return out, list(out.events)

    def _echo16(self, start: int, n: int) -> np.ndarray:
        pos24 = np.arange(start, start + n) * 1.5
        t0 = max(0, int(pos24[0]) // AVATAR_SAMPLES_PER_TICK)
        t1 = int(pos24[-1]) // AVATAR_SAMPLES_PER_TICK + 1
        zero = np.zeros(AVATAR_SAMPLES_PER_TICK, np.float32)
        ref = np.concatenate([self.avatar.get(t, zero) for t in range(t0, t1 + 1)])
        out = np.interp(pos24 - t0 * AVATAR_SAMPLES_PER_TICK, np.arange(len(ref)), ref, left=0.0, right=0.0)
        out[pos24 < 0] = 0.0
        return out.astype(np.float32)

    def first_voiced_after(self, t_s: float) -> float | None:
        """Session time of the first audible avatar sample at or after t_s."""
        for tick in sorted(tk for tk in self.avatar if (tk + 1) * TICK_S > t_s):
            block = self.avatar[tick]
            loud = np.nonzero(np.abs(block) > 0.01)[0]
            if len(loud) and np.sqrt(np.mean(block**2)) > VOICED:
                return max(t_s, tick * TICK_S + int(loud[0]) / AVATAR_RATE)
        return None

    def silent_from(self, t_s: float) -> float | None:
        """First time >= t_s from which the heard avatar audio stays silent for 0.4 s."""
        ticks = sorted(tk for tk in self.avatar if (tk + 1) * TICK_S > t_s)
        run_start = None
        for tick in ticks:
            if np.sqrt(np.mean(self.avatar[tick] ** 2)) > VOICED:
                run_start = None
            elif run_start is None:
                run_start = tick
            if run_start is not None and tick - run_start >= 10:
                return max(t_s, run_start * TICK_S)
        return None


def _answered(driver: _Driver, since_s: float) -> bool:
    """The avatar spoke after since_s and has been quiet for the last 0.6 s."""
    start = driver.first_voiced_after(since_s)
    if start is None:
        return False
    recent = [driver.avatar.get(t) for t in range(driver.tick - 15, driver.tick + 4)]
    return all(b is None or np.sqrt(np.mean(b**2)) <= VOICED for b in recent)


def run(turns: int, barge_ins: int, realtime: bool, echo: tuple[float, float] | None) -> dict[str, Any]:
    from engine.models.lite.model import LiteModel

    t_load = time.perf_counter()
    model = LiteModel()
    load_s = time.perf_counter() - t_load
    questions = [QUESTIONS[i % len(QUESTIONS)] for i in range(turns)]
    barges = [BARGE[i % len(BARGE)] for i in range(barge_ins)]
    clips = _user_clips(sorted(set(questions + barges + [LONG_QUESTION])))
    model.open(SessionSpec(persona="guide", avatar="ada", frame_size=512, options={"tts_wait_ms": "100"}))
    driver = _Driver(model, realtime, echo)
    for _ in range(6):  # settle
        driver.step()
    cpu0, wall0 = time.process_time(), time.monotonic()
    responses: list[dict[str, float]] = []
    for q in questions:
        _, end_s = driver.add(clips[q])
        detect_s = None
        for _ in range(int(25 / UNIT_S)):
            _, events = driver.step()
            final = any(isinstance(e, Transcript) and e.side == "user" and e.final and e.text for e in events)
            if detect_s is None and final:
                detect_s = driver.tick * TICK_S  # the end of the unit in which the turn ended
            if _answered(driver, end_s):
                break
        first = driver.first_voiced_after(end_s)
        if first is None or detect_s is None:
            responses.append({"latency_ms": float("nan")})
            continue
        brain_ms = driver.last_brain_ms
        responses.append(
            {
                "latency_ms": (first - end_s) * 1000,
                "end_of_turn_ms": (detect_s - end_s) * 1000,  # VAD silence + hangover + unit boundary
                "after_detection_ms": (first - detect_s) * 1000,  # brain + first tts beyond that step
                "brain_ms": brain_ms,
            }
        )
    barge_lat: list[float] = []
    for i, b in enumerate(barges):
        _, q_end = driver.add(clips[LONG_QUESTION])
        for _ in range(int(15 / UNIT_S)):
            driver.step()
            answer_start = driver.first_voiced_after(q_end)
            if answer_start is not None and driver.tick * TICK_S - answer_start > 1.0:
                break
        # interrupt at a varying phase of the unit clock
        at_tick = driver.tick + 1 + (i % 4)
        onset_s, _ = driver.add(clips[b], at_tick)
        for _ in range(int(12 / UNIT_S)):
            driver.step()
            if driver.tick * TICK_S > onset_s + 1.0 and _answered(driver, onset_s + 1.0):
                break
        was_talking = any(
            np.sqrt(np.mean(driver.avatar.get(t, np.zeros(1)) ** 2)) > VOICED
            for t in range(int(onset_s / TICK_S) - 5, int(onset_s / TICK_S))
        )
        stop = driver.silent_from(onset_s)
        barge_lat.append((stop - onset_s) * 1000 if stop is not None and was_talking else float("nan"))
    wall = time.monotonic() - wall0
    cpu = time.process_time() - cpu0
    model.close()
    lat = np.array([r["latency_ms"] for r in responses], dtype=float)
    audio_s = driver.steps * UNIT_S

    def med(key: str) -> float:
        vals = [r[key] for r in responses if key in r]
        return round(float(np.median(vals)), 1) if vals else float("nan")

    stage_share = {k: round(v / 1000 / audio_s, 4) for k, v in sorted(driver.stage_ms.items()) if k != "step"}
    return {
        "bench": "lite",
        "realtime_paced": realtime,
        "echo": {"delay_ms": echo[0], "gain": echo[1]} if echo else None,
        "model_load_s": round(load_s, 2),
        "response_latency_ms": {
            "p50": round(float(np.nanmedian(lat)), 1),
            "max": round(float(np.nanmax(lat)), 1),
            "n": int(np.sum(~np.isnan(lat))),
            "of": len(lat),
            "all": [round(float(x), 1) for x in lat],
            "stages_p50_ms": {
                "end_of_turn_detection": med("end_of_turn_ms"),
                "after_detection": med("after_detection_ms"),
                "brain_first_sentence": med("brain_ms"),
            },
        },
        "barge_in_latency_ms": {
            "p50": round(float(np.nanmedian(barge_lat)), 1) if barge_lat else None,
            "max": round(float(np.nanmax(barge_lat)), 1) if barge_lat else None,
            "all": [round(x, 1) for x in barge_lat],
        },
        "rtf": round(float(np.sum(driver.step_ms)) / 1000 / audio_s, 3),
        "step_ms": {
            "p50": round(float(np.median(driver.step_ms)), 1),
            "p99": round(float(np.percentile(driver.step_ms, 99)), 1),
        },
        "cpu_cores": round(cpu / wall, 3) if wall > 0 else None,
        "stage_cpu_share_of_one_core": stage_share,
        "goals": {"response_p50_ms": 600, "barge_in_ms": 200, "cpu_cores": 1.0},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="duet-engine bench lite", description=__doc__.splitlines()[0])
    p.add_argument("--turns", type=int, default=6, help="question/answer turns (response latency)")
    p.add_argument("--barge-ins", type=int, default=4, help="interruptions (barge-in latency)")
    p.add_argument("--fast", action="store_true", help="do not pace in real time (latencies less honest)")
    p.add_argument("--echo-delay-ms", type=float, default=0.0)
    p.add_argument("--echo-gain", type=float, default=0.0, help="mix the avatar's output back into the mic")
    args = p.parse_args(argv)
    if args.turns < 1 or args.barge_ins < 0:
        p.error("--turns must be >= 1 and --barge-ins >= 0")
    echo = (args.echo_delay_ms, args.echo_gain) if args.echo_gain > 0 else None
    result = run(args.turns, args.barge_ins, realtime=not args.fast, echo=echo)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

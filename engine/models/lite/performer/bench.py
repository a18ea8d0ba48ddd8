"""Benchmark of the lite voice and performer: prints JSON.

`python -m engine.models.lite.performer.bench [--frames N] [--size S] [--threads T]`
render: per-frame wall and CPU (thread) time, p50/p99 ms, per avatar, cycling through every mode;
tts: real-time factor of Voice.synthesize per voice (after one warm-up sentence).
"""

from __future__ import annotations

import argparse
import json
import time

import cv2
import numpy as np

from engine.models.lite.performer.render import MODES, PerformCue, Performer
from engine.models.lite.performer.spec import list_avatars
from engine.models.lite.visemes import VISEMES, MouthPose

SENTENCES = (
    "Hi, I'm Ada, your guide to Duet.",
    "I listen while I speak, and I stop as soon as you interrupt me.",
    "Everything runs offline on this computer, with no download at all.",
)


def bench_render(frames: int, size: int) -> dict[str, dict[str, float]]:
    out = {}
    for avatar in list_avatars():
        p = Performer(avatar, size=size, seed=0)
        wall, cpu = [], []
        for i in range(frames):
            mode = MODES[(i // 25) % len(MODES)]
            mouth = MouthPose.for_viseme(VISEMES[i % len(VISEMES)]) if mode == "speaking" else MouthPose()
            cue = PerformCue(mode=mode, mouth=mouth, gaze=(0.3, -0.1), nod=i % 50 == 0)
            w0, c0 = time.perf_counter(), time.thread_time()
            p.frame(i * 0.04, cue)
            cpu.append(time.thread_time() - c0)
            wall.append(time.perf_counter() - w0)
        out[avatar] = {
            "wall_p50_ms": round(float(np.percentile(wall, 50)) * 1e3, 2),
            "wall_p99_ms": round(float(np.percentile(wall, 99)) * 1e3, 2),
            "cpu_p50_ms": round(float(np.percentile(cpu, 50)) * 1e3, 2),
            "cpu_p99_ms": round(float(np.percentile(cpu, 99)) * 1e3, 2),
        }
    return out


def bench_tts() -> dict[str, dict[str, float]]:
    from engine.models.lite.voice import Voice, list_voices

    out = {}
    for vid in list_voices():
        v = Voice(vid)
        v.synthesize("Warm up.")
        secs = audio = 0.0
        for s in SENTENCES:
            t0 = time.perf_counter()
            sp = v.synthesize(s)
            secs += time.perf_counter() - t0
            audio += sp.duration_s
        out[vid] = {"rtf": round(secs / audio, 4), "audio_s": round(audio, 2)}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=500)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--threads", type=int, default=1, help="cv2 threads (1 = one core)")
    ap.add_argument("--no-tts", action="store_true")
    args = ap.parse_args(argv)
    cv2.setNumThreads(args.threads)
    result: dict[str, object] = {"size": args.size, "frames": args.frames, "cv2_threads": args.threads}
    result["render"] = bench_render(args.frames, args.size)
    if not args.no_tts:
        result["tts"] = bench_tts()
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

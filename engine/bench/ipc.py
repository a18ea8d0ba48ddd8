"""`duet-engine bench ipc`: latency and CPU cost of the shared-memory rings across a process boundary.

A spawned child attaches a 512x512 RGB frame ring and a 24 kHz audio ring and sleeps on the
doorbell; the parent writes one frame and one 40 ms audio block per tick at 25 fps for ~10 s. Each
item carries its send time (time.monotonic_ns, system-wide on Linux/macOS/Windows) in the tick
field; the child records receive time - send time after copying the item out. CPU cost is the
process CPU time of both sides during the paced run, as a percentage of one core.
Prints one JSON object; exit code 0 (1 if the child failed).
Goal (issue 2): p99 < 2 ms for both, total CPU < 3 % of a core.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from multiprocessing.connection import Connection

import numpy as np

from engine.ipc import AudioRing, AudioSpec, Doorbell, FrameRing, FrameSpec
from engine.ipc.doorbell import wait
from engine.protocol import AVATAR_SAMPLES_PER_TICK, FPS

STOP_TICK = -1


def _child(frame_ring: str, audio_ring: str, bell: Connection, results: Connection) -> None:
    frames, audio = FrameRing.attach(frame_ring), AudioRing.attach(audio_ring, AVATAR_SAMPLES_PER_TICK)
    frame_lat: list[int] = []
    audio_lat: list[int] = []
    checksum_ok = True
    results.send("ready")
    cpu0 = time.process_time()
    done = False
    while not done:
        wait(bell, 0.5)
        for tick, frame in frames.read(apply_flush=False):
            frame_lat.append(time.monotonic_ns() - tick)
            checksum_ok &= int(frame[0, 0, 0]) == 7 and int(frame[-1, -1, 2]) == 9
        for tick, _pcm in audio.read(apply_flush=False):
            if tick == STOP_TICK:
                done = True
                break
            audio_lat.append(time.monotonic_ns() - tick)
    cpu = time.process_time() - cpu0
    results.send((frame_lat, audio_lat, cpu, checksum_ok))
    frames.close()
    audio.close()


def _stats(lat_ns: list[int]) -> dict[str, float | int]:
    if not lat_ns:
        return {"n": 0}
    ms = np.asarray(lat_ns, np.float64) / 1e6
    return {
        "n": int(ms.size),
        "p50_ms": round(float(np.percentile(ms, 50)), 4),
        "p99_ms": round(float(np.percentile(ms, 99)), 4),
        "max_ms": round(float(ms.max()), 4),
    }


def run(seconds: float = 10.0, fps: int = FPS, frame_size: int = 512) -> dict[str, object]:
    ctx = mp.get_context("spawn")
    frames = FrameRing.create("bfrm", FrameSpec(frame_size, frame_size, 8))
    audio = AudioRing.create("baud", AudioSpec(AVATAR_SAMPLES_PER_TICK, 1, 16))
    bell = Doorbell()
    res_recv, res_send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(frames.name, audio.name, bell.reader, res_send), daemon=True)
    proc.start()
    try:
        if not res_recv.poll(60) or res_recv.recv() != "ready":
            raise RuntimeError("benchmark child did not start")
        rng = np.random.default_rng(0)
        frame = rng.integers(0, 256, (frame_size, frame_size, 3), dtype=np.uint8)
        frame[0, 0, 0], frame[-1, -1, 2] = 7, 9
        pcm = (0.1 * rng.standard_normal(AVATAR_SAMPLES_PER_TICK)).astype(np.float32)
        n = max(1, int(seconds * fps))
        period = 1.0 / fps
        dropped = 0
        cpu0, wall0 = time.process_time(), time.perf_counter()
        next_t = time.perf_counter()
        for _ in range(n):
            dropped += not frames.write(time.monotonic_ns(), frame)
            bell.ring()
            dropped += audio.write(time.monotonic_ns(), pcm)
            bell.ring()
            next_t += period
            delay = next_t - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        parent_cpu = time.process_time() - cpu0
        wall = time.perf_counter() - wall0
        while audio.write(STOP_TICK, np.zeros(AVATAR_SAMPLES_PER_TICK, np.float32)):
            time.sleep(0.01)
        bell.ring()
        if not res_recv.poll(30):
            raise RuntimeError("benchmark child did not report")
        frame_lat, audio_lat, child_cpu, checksum_ok = res_recv.recv()
    finally:
        proc.join(10)
        if proc.exitcode is None:
            proc.kill()
            proc.join(5)
        frames.close()
        audio.close()
        bell.close()
        res_recv.close()
        res_send.close()
    f_stats, a_stats = _stats(frame_lat), _stats(audio_lat)
    cpu_pct = 100.0 * (parent_cpu + child_cpu) / wall
    passed = (
        checksum_ok
        and dropped == 0
        and float(f_stats.get("p99_ms", 1e9)) < 2.0
        and float(a_stats.get("p99_ms", 1e9)) < 2.0
        and cpu_pct < 3.0
    )
    return {
        "bench": "ipc",
        "direction": "parent -> spawned child (shared-memory ring + doorbell)",
        "fps": fps,
        "seconds": round(wall, 3),
        "frame": {"shape": [frame_size, frame_size, 3], **f_stats},
        "audio": {"samples": AVATAR_SAMPLES_PER_TICK, "rate_hz": 24000, **a_stats},
        "cpu": {
            "parent_pct_core": round(100.0 * parent_cpu / wall, 3),
            "child_pct_core": round(100.0 * child_cpu / wall, 3),
            "total_pct_core": round(cpu_pct, 3),
        },
        "dropped": int(dropped),
        "intact": bool(checksum_ok),
        "goal": {"p99_ms": 2.0, "cpu_pct_core": 3.0},
        "pass": bool(passed),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="duet-engine bench ipc", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="paced run length (default 10)")
    parser.add_argument("--fps", type=int, default=FPS, help="items per second (default 25)")
    parser.add_argument("--frame-size", type=int, default=512, help="frame side in pixels (default 512)")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.fps <= 0 or not 16 <= args.frame_size <= 2048:
        parser.error("--seconds and --fps must be positive, --frame-size in [16, 2048]")
    try:
        result = run(args.seconds, args.fps, args.frame_size)
    except RuntimeError as e:
        print(json.dumps({"bench": "ipc", "error": str(e)}))
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

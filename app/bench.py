"""App benchmark (prints JSON): A/V offset at the output, frame pacing, GUI CPU share, glass-to-glass.

    python -m app.bench [--seconds 120] [--sync-model testmarker] [--latency-model lite] [--turns 3]
    duet --bench ...

Needs a display with OpenGL (Xvfb + Mesa) unless --no-gl, and an audio setup where the default
input hears the default output (PipeWire null sink + monitor, see installers/audio-setup.sh).
Phase 1 runs the marker model (white frame + click every second at the same tick) for --seconds:
offset = presentation time of the white frame - time the click reached the speaker (recorded on
the monitor). Phase 2 plays a spoken user turn into the sink --turns times with the latency model
and reports the app's own glass-to-glass measurement (mic speech end -> first avatar sample at DAC).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TEST_MODELS = (
    "testecho=tests.support.models:EchoTestModel,"
    "testmarker=tests.support.models:MarkerTestModel,"
    "testcrash=tests.support.models:CrashTestModel"
)


def _ensure_test_models() -> None:
    """The marker model lives in the test suite: register it when running from a checkout."""
    if (ROOT / "tests" / "support" / "models.py").exists() and "testmarker" not in os.environ.get(
        "DUET_TEST_MODELS", ""
    ):
        extra = os.environ.get("DUET_TEST_MODELS", "")
        os.environ["DUET_TEST_MODELS"] = ",".join(filter(None, [extra, TEST_MODELS]))
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))


def _pct(values: list[float], q: float) -> float | None:
    return None if not values else round(float(np.percentile(np.asarray(values), q)), 2)


def _wait(app: Any, cond: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        app.processEvents()
        if cond():
            return True
        time.sleep(0.002)
    return cond()


def _run(app: Any, seconds: float) -> None:
    """Run the Qt event loop (like the app does) for `seconds`."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def _window(model: str, use_gl: bool | str) -> Any:
    from engine.protocol import SessionSpec

    from .core import DuetCore
    from .settings import Settings
    from .window import MainWindow

    settings = Settings(model=model, camera_enabled=False)
    core = DuetCore(model, SessionSpec(persona=settings.persona, avatar=settings.avatar))
    window = MainWindow(core, settings, use_gl=use_gl, persist=False)
    window.resize(1180, 760)
    window.show()
    window.start()
    return window


def bench_sync(app: Any, model: str, seconds: float, use_gl: bool | str) -> dict[str, Any]:
    from .measure import MarkerProbe, MonitorRecorder, pair_offsets_ms

    w = _window(model, use_gl)
    try:
        if not _wait(app, lambda: w.core._live is not None, 120):
            return {"error": f"engine {model!r} not ready: {w.banner.label.text()}"}
        _run(app, 2.0)  # settle: prebuffer filled, first frames shown
        probe = MarkerProbe(w.stage.view)
        s = w.core.scheduler.stats
        base = (s.shown, s.dropped, s.late, w.core.player.buffer.underruns)
        cpu0, t0 = time.process_time(), time.monotonic()
        with MonitorRecorder() as rec:
            _run(app, seconds)
        cpu1, t1 = time.process_time(), time.monotonic()
        offsets = pair_offsets_ms(probe.white_onsets, rec.click_times())
        internal = list(s.offsets_ms)
        wall = t1 - t0
        shown = s.shown - base[0]
        return {
            "model": model,
            "view": w.stage.view.kind,
            "seconds": round(wall, 1),
            "av_offset_ms": {
                "n": len(offsets),
                "p50": _pct(offsets, 50),
                "p99_abs": _pct([abs(o) for o in offsets], 99),
                "max_abs": round(max((abs(o) for o in offsets), default=0.0), 2) if offsets else None,
                "clock_model_p99_abs": _pct([abs(o) for o in internal], 99),
            },
            "frames": {
                "expected": round(wall * 25),
                "shown": shown,
                "dropped": s.dropped - base[1],
                "late": s.late - base[2],
                "fps": round(shown / wall, 2),
            },
            "audio_underruns": w.core.player.buffer.underruns - base[3],
            "gui_cpu_percent_of_core": round(100.0 * (cpu1 - cpu0) / wall, 1),
        }
    finally:
        w.close()


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    import wave

    with wave.open(str(path)) as f:
        rate, ch, width = f.getframerate(), f.getnchannels(), f.getsampwidth()
        raw = f.readframes(f.getnframes())
    if width != 2:
        raise ValueError(f"{path}: only 16-bit PCM WAV is supported")
    x = np.frombuffer(raw, np.int16).astype(np.float32) / 32768.0
    return x.reshape(-1, ch).mean(axis=1), rate


def _play(wav: Path) -> None:
    """Play a 16-bit WAV on the default output, blocking until done (in a process of its own: a
    blocking write from a thread of the GUI process starves while the GUI thread holds the GIL, and
    the mic would hear the "user" with dropouts)."""
    import sounddevice as sd

    x, rate = _read_wav(wav)
    with sd.OutputStream(samplerate=rate, channels=1, dtype="float32") as out:
        out.write(x.reshape(-1, 1).astype(np.float32))


def bench_glass(app: Any, model: str, turns: int, wav: Path, use_gl: bool | str) -> dict[str, Any]:
    _read_wav(wav)  # a wrong file fails here, not in the player process
    w = _window(model, use_gl)
    try:
        if not _wait(app, lambda: w.core._live is not None, 240):
            return {"model": model, "error": f"engine {model!r} not ready: {w.banner.label.text()}"}
        _run(app, 3.0)  # let a greeting (if any) finish
        results: list[float] = []
        for _ in range(turns):
            n0 = len(w.core.latency.turns)
            _wait(app, lambda: time.monotonic() > w.core.player.voiced_until + 0.5, 20)
            # the "user" speaks from another process: the window keeps running meanwhile
            user = mp.get_context("spawn").Process(target=_play, args=(wav,), name="bench-user", daemon=True)
            user.start()
            if not _wait(app, lambda user=user: not user.is_alive(), 30):
                user.kill()
            user.join(5)
            if _wait(app, lambda n0=n0: len(w.core.latency.turns) > n0, 20):
                results.append(round(w.core.latency.turns[-1].ms, 1))
            _run(app, 1.0)
        return {
            "model": model,
            "turns_ms": results,
            "p50_ms": _pct(results, 50),
            "answered": f"{len(results)}/{turns}",
            "captions": [f"{c.side}: {c.text}" for c in list(w.core.conversation.captions)[-6:]],
        }
    finally:
        w.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m app.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=120.0, help="length of the A/V + pacing run (s)")
    p.add_argument("--sync-model", default="testmarker", help="model that marks frame+audio ticks")
    p.add_argument("--latency-model", default="lite", help="model for glass-to-glass latency ('' = skip)")
    p.add_argument("--turns", type=int, default=3)
    p.add_argument(
        "--wav", type=Path, default=None, help="spoken user turn (default: assets/demo/user_turn.wav)"
    )
    p.add_argument("--view", choices=("vispy", "qpainter", "auto"), default="vispy", help="avatar view")
    args = p.parse_args(argv)
    if args.seconds <= 0 or args.turns < 0:
        p.error("--seconds must be > 0 and --turns >= 0")
    _ensure_test_models()
    from engine import paths

    from .logs import setup_logging
    from .theme import STYLESHEET
    from .widgets import widget_app

    setup_logging()
    app = widget_app(sys.argv[:1])
    app.setStyleSheet(STYLESHEET)
    out: dict[str, Any] = {"bench": "app", "platform": app.platformName()}
    views: dict[str, bool | str] = {"vispy": True, "qpainter": False, "auto": "auto"}
    use_gl = views[args.view]
    if args.sync_model:
        out["sync"] = bench_sync(app, args.sync_model, args.seconds, use_gl)
    if args.latency_model and args.turns:
        wav = args.wav or paths.assets_dir() / "demo" / "user_turn.wav"
        if not wav.exists():
            wav = Path("/usr/share/sounds/alsa/Front_Center.wav")
        out["glass_to_glass"] = bench_glass(app, args.latency_model, args.turns, wav, use_gl)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

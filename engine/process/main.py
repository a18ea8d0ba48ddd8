"""Entry point of the engine process (multiprocessing "spawn" target).

This module is imported by the client (to name the target) and must stay torch-free at import
time: model code (and torch) is imported inside the child by engine.registry.create().
Exit codes: 0 clean shutdown, 2 model failed to load, 3 fatal runtime error.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import traceback
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

from engine.ipc import Channel, ChannelClosed, MediaRings, RingNames
from engine.protocol import CONTROL_TYPES, ErrorEvent, Ready
from engine.registry import ModelOptions

EXIT_LOAD_FAILED = 2
log = logging.getLogger("duet.engine")


@dataclass
class EngineConfig:
    """Everything the engine process needs; pickled once by multiprocessing at spawn."""

    model: str
    options: ModelOptions
    rings: RingNames
    control_recv: Connection  # client -> engine control messages
    events_send: Connection  # engine -> client events
    doorbell: Connection  # read end: rung by the client after writing mic/camera
    log_path: str
    extra_env: dict[str, str] = field(default_factory=dict)


def _setup_logging(path: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    # one writer at a time (a restarted engine reopens it); rotated like the app's log: 5 x 2 MB
    handler = _EngineLog(path, maxBytes=2_000_000, backupCount=5, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)


class _EngineLog(logging.handlers.RotatingFileHandler):
    """The engine log; fd 2 follows it to the new file when it rotates (see _stderr_to)."""

    def doRollover(self) -> None:
        super().doRollover()
        _stderr_to(self.baseFilename)


def _stderr_to(path: str) -> None:
    """File descriptor 2 (C libraries' messages, Python's last-resort tracebacks) appends to the
    engine log too: their words land beside the log's, and the engine never writes into the
    parent's stderr, which in the app is a non-blocking pipe (app/stderr_guard.py) where a full
    pipe would make a write fail. Kept as it was if the log cannot be opened."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError:
        return
    sys.stderr.flush()
    os.dup2(fd, 2)
    os.close(fd)


def _check_model(model: object, max_frame_size: int) -> None:
    """The attributes and methods the engine relies on (engine/models/base.py); TypeError naming
    the first that is missing or wrong."""
    least = {"unit_ticks": 1, "output_lag_units": 0, "frame_size": 1}
    values: dict[str, int] = {}
    for attr, lo in least.items():
        if not hasattr(model, attr):
            raise TypeError(f"model has no attribute {attr} (an int >= {lo}; see engine/models/base.py)")
        value = getattr(model, attr)
        if not isinstance(value, int) or isinstance(value, bool) or value < lo:
            raise TypeError(f"model attribute {attr} must be an int >= {lo}, got {value!r}")
        values[attr] = value
    if values["frame_size"] > max_frame_size:
        raise TypeError(
            f"model frame_size {values['frame_size']} is larger than the engine's frames hold"
            f" (at most {max_frame_size})"
        )
    trained = getattr(model, "trained", True)
    if not isinstance(trained, bool):
        raise TypeError(f"model attribute trained must be True or False, got {trained!r}")
    for method in ("open", "step", "flush", "user_text", "close"):
        if not callable(getattr(model, method, None)):
            raise TypeError(f"model has no {method}() method (see engine/models/base.py)")


def run_engine(config: EngineConfig) -> None:
    """Spawn target: load the model, send Ready, run until Shutdown or the client goes away."""
    os.environ.update(config.extra_env)
    _setup_logging(config.log_path)
    _stderr_to(config.log_path)
    channel = Channel(config.control_recv, config.events_send, CONTROL_TYPES)
    code = _run(config, channel)
    log.info("engine exits with code %d", code)
    channel.close()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # daemon threads (a hung step) must not keep the process alive


def _run(config: EngineConfig, channel: Channel) -> int:
    from engine import registry  # torch-free; the model module it imports may pull torch in

    from .device import select_device
    from .engine import Engine

    log.info("engine pid %d starting model %r (python %s)", os.getpid(), config.model, sys.version.split()[0])
    try:
        rings = MediaRings.attach(config.rings)
    except (OSError, ValueError) as e:
        log.error("cannot attach media rings: %s", e)
        _send_quiet(channel, ErrorEvent(code="ipc", message=f"cannot attach media rings: {e}", fatal=True))
        return EXIT_LOAD_FAILED
    try:
        try:
            device = select_device(config.options.device)
            options = ModelOptions(
                device=device,
                weights=config.options.weights,
                revision=config.options.revision,
                extra=dict(config.options.extra),
            )
            model = registry.create(config.model, options)
            _check_model(model, rings.max_frame_size)
            description = registry.info(config.model).description
        except Exception as e:
            log.error("model %r failed to load:\n%s", config.model, traceback.format_exc())
            message = f"model {config.model!r} failed to load: {type(e).__name__}: {e}"
            _send_quiet(channel, ErrorEvent(code="model_load", message=message, fatal=True))
            return EXIT_LOAD_FAILED
        log.info(
            "model %r ready on %s: unit %d ticks, lag %d units, frames %dpx",
            config.model,
            device,
            model.unit_ticks,
            model.output_lag_units,
            model.frame_size,
        )
        ready = Ready(
            model=config.model,
            unit_ticks=model.unit_ticks,
            output_lag_units=model.output_lag_units,
            frame_size=model.frame_size,
            device=device,
            trained=bool(getattr(model, "trained", True)),
            description=description,
        )
        if not _send_quiet(channel, ready):
            return 0
        return Engine(model, channel, rings, config.doorbell).run()
    finally:
        rings.close()


def _send_quiet(channel: Channel, msg: object) -> bool:
    try:
        channel.send(msg)
        return True
    except ChannelClosed:
        log.warning("client gone before %s could be sent", type(msg).__name__)
        return False

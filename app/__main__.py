"""`duet` / `python -m app`: the desktop app. One qasync event loop; the engine runs in a child process."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .disk_budget import Budget
    from .settings import Settings

log = logging.getLogger("app")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="duet", description="Full-duplex conversation with a talking avatar.")
    p.add_argument("--model", help="engine model (see `duet-engine models`); default: last used, else lite")
    p.add_argument(
        "--weights",
        metavar="DIR|REPO",
        help="trained weights for the model (a local folder or a hub repo id), as `duet-engine run "
        "--weights`; saved for that model, '' forgets them",
    )
    p.add_argument("--revision", metavar="REV", help="hub revision (commit or tag) for --weights")
    p.add_argument(
        "--model-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model build option, e.g. allow_untrained=1 for the streamer (repeatable; saved for that "
        "model; KEY= forgets KEY)",
    )
    p.add_argument("--persona", help="persona id (assets/personas/<id>.yaml) or a YAML path")
    p.add_argument("--avatar", help="avatar id (assets/avatars/<id>.yaml)")
    p.add_argument("--fullscreen", action="store_true", help="start fullscreen (F11 toggles)")
    p.add_argument(
        "--kiosk",
        action="store_true",
        help="an unattended booth: fullscreen that Esc/F11 do not leave, no Mute, Push-to-talk or "
        "Record buttons (--record still records); Ctrl+Shift+Q closes",
    )
    view = p.add_mutually_exclusive_group()
    view.add_argument("--no-gl", action="store_true", help="use the QPainter view instead of OpenGL (vispy)")
    view.add_argument(
        "--gl",
        action="store_true",
        help="always the vispy OpenGL view (default when OpenGL works)",
    )
    p.add_argument("--brain", choices=["script", "llm"], help="persona script, or a chat server (--llm-url)")
    p.add_argument("--llm-url", help="OpenAI-compatible base URL, e.g. http://127.0.0.1:11434/v1")
    p.add_argument("--llm-model", help="model name on the chat server, e.g. llama3.2")
    p.add_argument("--no-camera", action="store_true", help="audio-only: do not open a camera")
    p.add_argument("--hud", action="store_true", help="show the latency HUD (Ctrl+H toggles)")
    p.add_argument(
        "--record",
        action="store_true",
        help="record the session from the moment it opens (as the Record button; files go to the "
        "sessions folder, DUET_SESSIONS_DIR overrides)",
    )
    p.add_argument(
        "--label",
        metavar="TEXT",
        help="label of the recordings (participant, condition; e.g. P03-condB): in their file names "
        "and metadata (the RECORDING section's Label field; not saved)",
    )
    p.add_argument(
        "--reserve-gb",
        type=_gb_arg(zero_ok=True),
        metavar="GB",
        help="free space kept on the sessions folder's disk: under it no recording starts and one "
        "running pauses, to resume by itself once space is back (default 1; 0: none; "
        "DUET_SESSIONS_RESERVE_GB)",
    )
    p.add_argument(
        "--keep-gb",
        type=_gb_arg(zero_ok=False),
        metavar="GB",
        help="delete the oldest Duet recordings (duet-*.mkv + .events.jsonl) in the sessions folder "
        "to keep them all under GB (before each file and every 30 s while recording; off unless "
        "given; DUET_SESSIONS_KEEP_GB)",
    )
    p.add_argument("--reset-settings", action="store_true", help="forget saved devices, pickers and geometry")
    p.add_argument("--verbose", action="store_true", help="debug logging")
    p.add_argument(
        "--bench", nargs=argparse.REMAINDER, help="run the app benchmark (see python -m app.bench -h)"
    )
    return p.parse_args(argv)


def _gb_arg(zero_ok: bool) -> Callable[[str], int]:
    """argparse type: a number of GB (10^9 bytes) -> bytes; refused with the reason (exit 2)."""
    from .disk_budget import parse_gb

    def parse(text: str) -> int:
        try:
            return parse_gb(text, zero_ok=zero_ok)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    return parse


def disk_budget_for(args: argparse.Namespace, budget: Budget) -> Budget:
    """The sessions folder's budget: `budget` (from DUET_SESSIONS_RESERVE_GB / _KEEP_GB) with
    --reserve-gb / --keep-gb over it."""
    if args.reserve_gb is not None:
        budget = replace(budget, reserve_bytes=args.reserve_gb)
    if args.keep_gb is not None:
        budget = replace(budget, keep_bytes=args.keep_gb)
    return budget


def apply_model_flags(args: argparse.Namespace, settings: Settings) -> str:
    """Fold --weights/--revision/--model-option into the saved source of the model to run.
    Returns an error for the command line ("" when fine)."""
    from . import catalog

    model = settings.model
    source = settings.source(model)
    # `--weights ''` forgets a model's weights; a model without any has nothing to forget
    forget_none = args.weights == "" and args.revision is None and not catalog.takes_weights(model)
    if (args.weights is not None or args.revision is not None) and not forget_none:
        if not catalog.takes_weights(model):
            return f"--weights/--revision: model {model!r} does not load weights (try --model streamer)"
        weights = source.weights
        if args.weights is not None:
            weights, problem = catalog.normalize_weights(args.weights)
            if problem:
                return f"--weights: {problem}"
            source = replace(source, weights=weights, revision="")
        if args.revision is not None:
            if not weights:
                return "--revision needs --weights (a hub repo id)"
            source = replace(source, revision=args.revision.strip())
    if args.model_option:
        options = dict(source.options)
        for item in args.model_option:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                return f"--model-option needs KEY=VALUE, got {item!r}"
            if value:
                options[key.strip()] = value
            else:
                options.pop(key.strip(), None)
        from engine.registry import UnknownModelError, check_options

        try:
            check_options(model, options)
        except ValueError as e:
            return f"--model-option: {e}"
        except UnknownModelError:
            pass  # the model itself is reported where it is started
        source = replace(source, options=options)
    settings.set_source(model, source)
    return ""


def _persona_is_path(persona: str) -> bool:
    return persona.endswith((".yaml", ".yml")) or "/" in persona or "\\" in persona


def persona_setting(persona: str) -> str:
    """--persona as saved: an id as given, a path made absolute (the next `duet` may start elsewhere)."""
    if _persona_is_path(persona):
        return str(Path(persona).expanduser().resolve())
    return persona


def persona_avatar_problem(persona: str | None, avatar: str | None) -> str:
    """Why --persona / --avatar cannot be used ("" when they can): an id that is not shipped, or a
    persona path (NAME.yaml, or with a folder in it) that is not a file. The persona's contents are
    checked when its session opens (the window says what is wrong with it)."""
    from . import catalog

    if persona:
        if _persona_is_path(persona):
            if Path(persona).expanduser().is_dir():
                return f"--persona: {persona}: is a folder, not a YAML file"
            if not Path(persona).expanduser().is_file():
                return f"--persona: no such persona file: {persona}"
        elif persona not in (ids := [c.id for c in catalog.personas()]):
            return f"--persona: no persona {persona!r}; shipped: {', '.join(ids)} (or a path to a YAML file)"
    if avatar and avatar not in (ids := [c.id for c in catalog.avatars() if c.id]):
        return f"--avatar: no avatar {avatar!r}; available: {', '.join(ids)}"
    return ""


def drop_unknown_options(settings: Settings) -> list[str]:
    """Saved model options a model no longer reads, or whose value it refuses, would stop its
    engine from starting: forget them (the other options stay). Returns a note per option dropped."""
    from engine.registry import check_options, info

    notes = []
    for model, source in settings.sources().items():
        try:
            known = info(model).options
        except LookupError:
            continue  # a model that is gone is reported when it is picked
        if known is None:
            continue
        keep = {k: v for k, v in source.options.items() if k in known}
        for key in sorted(set(source.options) - set(keep)):
            notes.append(f"model {model!r} has no option {key!r} any more: forgotten")
        for key, value in sorted(keep.items()):  # a value this version refuses (a range that moved)
            try:
                check_options(model, {key: value})
            except ValueError as e:
                notes.append(f"{e}: forgotten")
                del keep[key]
        if keep != source.options:
            check_options(model, keep)
            settings.set_source(model, replace(source, options=keep))
    return notes


def ignored_option_notes(settings: Settings) -> list[str]:
    """A note per saved option the current model ignores because it loads weights (size, seed)."""
    from engine.registry import UnknownModelError, ignored_with_weights

    source = settings.source(settings.model)
    if not source.weights:
        return []
    try:
        keys = ignored_with_weights(settings.model, source.options)
    except UnknownModelError:
        return []
    return [
        f"model option {key}={source.options[key]} ignored: the weights' config.json decides" for key in keys
    ]


def display_problem(env: Mapping[str, str], platform: str) -> str:
    """Why the window cannot open here ("" when it can): Linux with no display to draw on (Qt
    would abort with a message about its xcb plugin)."""
    if not platform.startswith("linux") or env.get("QT_QPA_PLATFORM"):
        return ""
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return ""
    return (
        "no display to open the window on (DISPLAY and WAYLAND_DISPLAY are not set): run it in a"
        " desktop session, or `duet-engine demo` for a headless session (installers/duet.sh does"
        " that by itself)"
    )


def _default_fallback(model: str) -> str:
    """The model to fall back to when `model`, the one started with, cannot load: the default
    (lite: no weights, no download), unless that is the one failing ("" then)."""
    from .settings import Settings

    default = Settings().model
    return default if model != default else ""


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.bench is not None:
        from .bench import main as bench_main

        return bench_main(args.bench)

    from engine import registry
    from engine.session.naming import label_slug

    from . import catalog, stderr_guard
    from .logs import setup_logging
    from .settings import Settings

    try:
        log_path = setup_logging(args.verbose)
    except OSError as e:  # DUET_LOG_DIR (or the default log folder) cannot be made
        print(f"duet: {e}", file=sys.stderr)
        return 1
    log.info("Duet starting: duet %s", " ".join(argv if argv is not None else sys.argv[1:]))
    # one Duet at a time, decided before the settings are read or reset: a second one must not
    # delete, move aside or overwrite the settings of the one that runs
    from .instance import another_running, single_instance

    lock = single_instance()
    if lock is None:
        problem = another_running()
        log.error("not started: %s", problem)
        print(f"duet: {problem}", file=sys.stderr)
        from .instance import refusal_box_wanted

        # the real app started without a terminal (a desktop icon): say it in a window too, one
        # that closes by itself; never at a kiosk (an autostart or watchdog script: nobody to click)
        if argv is None and refusal_box_wanted(args.kiosk, sys.stderr):
            from .instance import show_refusal

            show_refusal(problem)
        return 3

    try:
        if args.reset_settings:
            Settings.reset()
            log.info("settings reset")
        settings = Settings.load()
    except OSError as e:  # DUET_CONFIG_DIR (or the default settings folder) cannot be made or read
        log.error("not started: %s", e)
        print(f"duet: {e}", file=sys.stderr)
        return 1
    for note in drop_unknown_options(settings):
        log.warning("settings: %s", note)
    model_before = settings.model
    if args.model:
        try:
            registry.info(args.model)
        except registry.UnknownModelError as e:
            print(f"duet: {e}", file=sys.stderr)
            return 2
        settings.model = args.model
    if args.persona:
        settings.persona = persona_setting(args.persona)
    if args.avatar:
        settings.avatar = args.avatar
    if args.llm_url is not None:
        settings.llm_url = args.llm_url
        settings.brain = "llm" if args.llm_url else "script"
    if args.llm_model is not None:
        settings.llm_model = args.llm_model
    source_before = settings.source(settings.model)
    error = persona_avatar_problem(args.persona, args.avatar) or apply_model_flags(args, settings)
    if not error and args.model:
        # a model asked for on the command line starts as asked, or not at all
        error = catalog.weights_problem(settings.model, settings.source(settings.model))
        if error and args.weights is not None and not args.weights.strip():
            # `--model M --weights ''`: the weights are forgotten as asked; the model Duet ran stays
            forgot = settings.model
            settings.model = model_before
            try:
                settings.save()
            except OSError as e:
                error = f"cannot save the settings: {e}"
            else:
                error = f"forgot the weights of {forgot}; it cannot start without them: {error}"
    if error:
        log.error("not started: %s", error)  # in duet-app.log too: a desktop icon shows no terminal
        print(f"duet: {error}", file=sys.stderr)
        return 2
    for note in ignored_option_notes(settings):
        log.info("%s", note)
        print(f"duet: note: {note}", file=sys.stderr)
    if args.label is not None and args.label.strip() and not label_slug(args.label):
        error = f"--label: {args.label!r} has no letter or digit for the file name (A-Z, 0-9)"
        log.error("not started: %s", error)
        print(f"duet: {error}", file=sys.stderr)
        return 2
    if args.brain:
        settings.brain = args.brain
    if settings.brain == "llm" and not settings.llm_url:
        print("duet: --brain llm needs --llm-url (an OpenAI-compatible server)", file=sys.stderr)
        return 2
    if args.no_camera:
        settings.camera_enabled = False
    if args.hud:
        settings.hud = True

    if problem := display_problem(os.environ, sys.platform):
        log.error("not started: %s", problem)
        print(f"duet: {problem}", file=sys.stderr)
        return 2

    # Qt Multimedia (the camera) says at every start that VA-API hardware decoding is not there,
    # in 9 lines; nothing here decodes video with it (the user's own rules win)
    quiet = "qt.multimedia.symbolsresolver=false;qt.multimedia.ffmpeg=false"
    os.environ.setdefault("QT_LOGGING_RULES", quiet)

    import qasync
    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QIcon

    from .core import DuetCore
    from .theme import STYLESHEET
    from .widgets import widget_app
    from .window import MainWindow

    app = widget_app(sys.argv[:1])
    app.setApplicationName("Duet")
    app.setStyleSheet(STYLESHEET)
    icon = catalog.icon_path()
    if icon is not None:
        app.setWindowIcon(QIcon(str(icon)))
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    closed = asyncio.Event()
    app.aboutToQuit.connect(closed.set)
    app.setQuitOnLastWindowClosed(True)

    spec = settings.session_spec()
    # a model or weights given here are kept once they load; if they fail to, the app goes back to
    # the model that ran before and the weights it had (the settings follow: core.source_reverted)
    changed = settings.source(settings.model) != source_before
    core = DuetCore(
        settings.model,
        spec,
        settings.mic_device,
        settings.speaker_device,
        sources=settings.sources(),
        fallback=model_before if model_before != settings.model else "",
        untried={settings.model: source_before} if changed else None,
        # a saved model that cannot load at start-up (weights on a drive since removed) has the
        # default stand in for it rather than leave a blank window (an unattended booth, say)
        stand_in=_default_fallback(settings.model),
    )
    use_gl: bool | str = False if args.no_gl else True if args.gl else "auto"
    window = MainWindow(core, settings, use_gl=use_gl)
    if args.kiosk:
        window.start_kiosk()
    elif args.fullscreen:
        window.enter_fullscreen()
    else:
        window.show()
    if args.label:
        window.label_edit.setText(args.label)
        window.captions.sections["RECORDING"].setChecked(True)
    budget = disk_budget_for(args, core.recording.budget)  # (the controller read the variables)
    core.recording.budget = budget
    if budget.keep_bytes is not None:
        from .disk_budget import keep_text

        log.info(
            "retention: the oldest Duet recordings in the sessions folder are deleted to keep them under %s",
            keep_text(budget.keep_bytes),
        )
    if args.record:
        window.record_button.setChecked(True)  # the file starts when the session opens
    window.start()
    if argv is None:  # the real app (not main() called by a test): C libraries cannot flood stderr
        # only now: Qt's own start-up failures (no display, a missing xcb library) are written to
        # stderr just before Qt aborts, and must reach the terminal whole
        stderr_guard.install()
    if settings.load_note:
        core.notify("warn", settings.load_note)
    log.info("window shown; logs at %s", log_path)

    # Ctrl+C in the terminal (or SIGTERM) closes the window cleanly (engine stopped, settings saved)
    def close_on(signum: int, _frame: object) -> None:
        # from the event loop, not the handler: the handler may have interrupted a log write
        def close() -> None:
            log.info("%s: closing", signal.Signals(signum).name)
            window.close()

        QTimer.singleShot(0, close)

    signal.signal(signal.SIGINT, close_on)
    if os.name != "nt":
        signal.signal(signal.SIGTERM, close_on)

    with loop:
        loop.run_until_complete(closed.wait())
    core.shutdown()
    lock.unlock()  # (a lock left behind, by os._exit below or a crash, is stale: the next Duet takes it)
    log.info("Duet closed")
    from .playback import abandoned_streams

    if abandoned_streams():
        # an audio stream whose device hung could not be closed: PortAudio's exit handler would
        # wait on it forever. Everything else is closed and saved: leave without it.
        log.warning("exiting past %d audio stream(s) that never closed", abandoned_streams())
        logging.shutdown()
        sys.stdout.flush()
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`duet` / `python -m app`: the desktop app. One qasync event loop; the engine runs in a child process."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

log = logging.getLogger("app")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="duet", description="Full-duplex conversation with a talking avatar.")
    p.add_argument("--model", help="engine model (see `duet-engine models`); default: last used, else lite")
    p.add_argument("--persona", help="persona id (assets/personas/<id>.yaml) or a YAML path")
    p.add_argument("--avatar", help="avatar id (assets/avatars/<id>.yaml)")
    p.add_argument("--fullscreen", action="store_true", help="start fullscreen (F11 toggles)")
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
    p.add_argument("--reset-settings", action="store_true", help="forget saved devices, pickers and geometry")
    p.add_argument("--verbose", action="store_true", help="debug logging")
    p.add_argument(
        "--bench", nargs=argparse.REMAINDER, help="run the app benchmark (see python -m app.bench -h)"
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.bench is not None:
        from .bench import main as bench_main

        return bench_main(args.bench)

    from engine import registry

    from .logs import setup_logging
    from .settings import Settings

    log_path = setup_logging(args.verbose)
    if args.reset_settings:
        Settings.reset()
        log.info("settings reset")
    settings = Settings.load()
    if args.model:
        try:
            registry.info(args.model)
        except registry.UnknownModelError as e:
            print(f"duet: {e}", file=sys.stderr)
            return 2
        settings.model = args.model
    if args.persona:
        settings.persona = args.persona
    if args.avatar:
        settings.avatar = args.avatar
    if args.llm_url is not None:
        settings.llm_url = args.llm_url
        settings.brain = "llm" if args.llm_url else "script"
    if args.llm_model is not None:
        settings.llm_model = args.llm_model
    if args.brain:
        settings.brain = args.brain
    if settings.brain == "llm" and not settings.llm_url:
        print("duet: --brain llm needs --llm-url (an OpenAI-compatible server)", file=sys.stderr)
        return 2
    if args.no_camera:
        settings.camera_enabled = False
    if args.hud:
        settings.hud = True

    import qasync
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from . import catalog
    from .core import DuetCore
    from .theme import STYLESHEET
    from .window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
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
    core = DuetCore(settings.model, spec, settings.mic_device, settings.speaker_device)
    use_gl: bool | str = False if args.no_gl else True if args.gl else "auto"
    window = MainWindow(core, settings, use_gl=use_gl)
    if args.fullscreen:
        window.showFullScreen()
    else:
        window.show()
    window.start()
    log.info("window shown; logs at %s", log_path)

    # Ctrl+C in the terminal closes the window cleanly (engine stopped, settings saved)
    signal.signal(signal.SIGINT, lambda *_: window.close())
    if os.name != "nt":
        signal.signal(signal.SIGTERM, lambda *_: window.close())

    with loop:
        loop.run_until_complete(closed.wait())
    core.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`duet-engine`: the headless command line (run, demo, show, models, voices, bench, train).

User errors print one line `duet-engine: error: ...` to stderr and exit 1 (argparse usage errors: 2);
no tracebacks. Results are JSON on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import json
import logging
import math
import os
import select
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from engine.signals import handling

from .errors import PROG, CliError, UsageError, _one_line, _user_errors
from .show import _print_conversation, cmd_show

# kind -> "module:function"; function(argv: list[str]) -> int, printing JSON
BENCHES: dict[str, str] = {
    "faults": "engine.bench.faults:main",
    "ipc": "engine.bench.ipc:main",
    "lite": "engine.bench.lite:main",
    "streamer": "engine.bench.streamer:main",
    "gpu": "engine.bench.gpu:main",
}
TRAIN = "engine.models.streamer.train:main"
DEMO_INPUT = "demo/user_turn.wav"  # under engine.paths.assets_dir()
MAX_TAIL_S = 3600.0  # --tail-s: an hour of silence after the input is already more than a study needs


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM, with what was kept (printed after "interrupted; ") and the exit status."""

    def __init__(self, kept: str, code: int = 130) -> None:
        super().__init__(kept)
        self.code = code


class _Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, `timeout`) during a run: stopped like Ctrl-C, so the file is closed and
    the engine process and its shared memory go."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise _Terminated()


def _run_keeping(a: argparse.Namespace) -> dict[str, Any]:
    """run_session for `run` and `demo`; Ctrl-C says where the session so far is (the runner
    closes the file on the way out, so it is readable)."""
    from engine.runner import run_session
    from engine.session import SessionWriteError

    cfg = _run_config(a)
    out = Path(a.output)
    before = _identity(out)  # an earlier file --overwrite will replace (None: none)
    with handling(_raise_terminated, signal.SIGTERM):  # stopped like Ctrl-C: the file is closed
        try:
            for attempt in range(1, 11):
                try:
                    summary: dict[str, Any] = run_session(cfg)
                    break
                except SessionWriteError as e:
                    # a default name another run took in the same second: the next free one
                    if e.errno != errno.EEXIST or not getattr(a, "default_prefix", "") or attempt == 10:
                        raise
                    a.output = _default_output(a.default_prefix, a.label)
                    cfg, out = _run_config(a), Path(a.output)
        except KeyboardInterrupt as e:
            now = _identity(out)
            if now is None:
                kept = "no session file was written"
            elif now == before:  # stopped before this run opened its file (while the model loaded)
                kept = f"no session file was written ({out} is the earlier one, untouched)"
            else:
                kept = f"the session so far is in {out}"
            raise Interrupted(kept, code=143 if isinstance(e, _Terminated) else 130) from None
    _warn(summary)
    return summary


def _identity(path: Path) -> tuple[int, int, int] | None:
    """(device, inode, mtime ns) of an existing file: tells a new file from an earlier one."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_mtime_ns)


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--realtime",
        action="store_true",
        help="pace the input at 40 ms a tick (default: as fast as possible)",
    )
    p.add_argument(
        "--max-ahead-units", type=int, default=2, help="fast mode: units fed ahead of the engine (2)"
    )
    p.add_argument("--echo-delay-ms", type=float, default=0.0, help="simulated speaker->mic delay (ms)")
    p.add_argument("--echo-gain", type=float, default=0.0, help="simulated echo gain (0 = no echo)")
    p.add_argument(
        "--tail-s",
        type=_tail,
        default=None,
        metavar="SECONDS|auto",
        help="silence fed after the input (default auto: until the avatar is done, 2-30 s)",
    )
    p.add_argument("--max-s", type=float, default=None, help="use at most this many seconds of the input")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output session")
    p.add_argument("--no-camera", action="store_true", help="ignore the input's video")
    p.add_argument("--persona", default="guide", help="persona id or YAML path (guide)")
    p.add_argument("--avatar", default="", help="avatar id (default: the persona's own, else ada)")
    p.add_argument("--brain", default="script", choices=["script", "llm"], help="how the lite model thinks")
    p.add_argument("--llm-url", default="", help="OpenAI-compatible base URL for --brain llm")
    p.add_argument("--llm-model", default="", help="model name at --llm-url")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps")
    p.add_argument("--weights", default="", help="local folder or hub repo id (models that need weights)")
    p.add_argument("--revision", default="", help="hub revision (commit or tag) for --weights")
    p.add_argument(
        "--say",
        action="append",
        default=[],
        metavar="SEC:TEXT",
        help="send typed user text when the input reaches SEC seconds (repeatable)",
    )
    p.add_argument(
        "--operator",
        action="append",
        default=[],
        metavar="SEC:TEXT",
        help="Wizard-of-Oz: the avatar says TEXT verbatim at SEC seconds (repeatable)",
    )
    p.add_argument(
        "--model-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model build option, e.g. allow_untrained=1 for the streamer (repeatable)",
    )
    p.add_argument(
        "--label",
        default="",
        metavar="TEXT",
        help="a study's label (participant, condition): in the metadata, and in the default file name",
    )
    p.add_argument("--log", default=None, help="engine log file")
    p.add_argument("--start-timeout-s", type=float, default=120.0, help="engine start limit (120)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Duet engine: headless runs, demo, benchmarks, training"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="feed an input file through a model and write a session file")
    run.add_argument("--model", default="lite", help="model name (see `duet-engine models`)")
    run.add_argument("--input", required=True, help="wav/flac/mp3/ogg/mp4/mkv file, or lavfi:GRAPH")
    run.add_argument("--output", default=None, help="session file NAME.mkv (default: the sessions folder)")
    _add_run_options(run)

    demo = sub.add_parser("demo", help="headless demo: the lite avatar answers a recorded user turn")
    demo.add_argument("--model", default="lite", help="model name (lite)")
    demo.add_argument("--input", default=None, help="user turn to play (default: the shipped demo WAV)")
    demo.add_argument("--output", default=None, help="session file (default: the sessions folder)")
    _add_run_options(demo)

    show = sub.add_parser("show", help="summarize a session file (tracks, durations, events, captions)")
    show.add_argument("session", nargs="+", help="NAME.mkv (several: each in turn)")
    show.add_argument("--json", action="store_true", help="print JSON (several files: a list)")

    models = sub.add_parser("models", help="list the available models")
    models.add_argument("--json", action="store_true", help="print JSON")
    models.add_argument("--all", action="store_true", help="include hidden (test) models")

    voices = sub.add_parser("voices", help="list the lite voices (a persona's `voice:`)")
    voices.add_argument("--json", action="store_true", help="print JSON")

    bench = sub.add_parser("bench", help="run a benchmark (prints JSON)")
    bench.add_argument("kind", choices=sorted(BENCHES), help="what to benchmark")
    bench.add_argument("args", nargs=argparse.REMAINDER, help="options for the benchmark")

    train = sub.add_parser("train", help="train the streamer model (see `duet-engine train --help`)")
    train.add_argument("args", nargs=argparse.REMAINDER, help="options for training")
    return parser


def _load(target: str, what: str) -> Callable[[list[str]], int]:
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise CliError(f"{what} is not available ({module_name}: {e})") from None
    fn = getattr(module, attr, None)
    if fn is None:
        raise CliError(f"{what} is not available ({module_name} has no {attr})")
    return fn


def _default_output(prefix: str, label: str = "") -> str:
    from engine.paths import sessions_dir
    from engine.session.naming import file_stem

    stem = file_stem(prefix, label)  # as the app's duet-DATE-TIME[-LABEL].mkv
    path = sessions_dir() / f"{stem}.mkv"
    n = 1
    while path.exists():
        n += 1
        path = sessions_dir() / f"{stem}-{n}.mkv"
    return str(path)


def _timed_texts(items: list[str], operator: bool, flag: str) -> list[tuple[float, str, bool]]:
    out = []
    for item in items:
        sec, sep, text = item.partition(":")
        try:
            at = float(sec)
        except ValueError:
            at = -1.0
        if not sep or not (at >= 0 and math.isfinite(at)) or not text.strip():
            raise CliError(f"{flag} needs SECONDS:TEXT (e.g. {flag} 2.5:hello), got {item!r}")
        out.append((at, text, operator))
    return out


def _key_values(items: list[str], flag: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CliError(f"{flag} needs KEY=VALUE, got {item!r}")
        out[key.strip()] = value
    return out


def _tail(text: str) -> float | None:
    """--tail-s: seconds >= 0, or "auto" (None)."""
    if text.strip().lower() == "auto":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds or 'auto', got {text!r}") from None
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds >= 0, got {text!r}")
    if value > MAX_TAIL_S:
        raise argparse.ArgumentTypeError(f"at most {MAX_TAIL_S:g} s of silence after the input, got {text!r}")
    return value


def _run_config(a: argparse.Namespace) -> Any:
    from engine.runner import RunConfig

    if a.max_ahead_units < 1:
        raise CliError("--max-ahead-units must be >= 1")
    if a.max_s is not None and not (a.max_s > 0 and math.isfinite(a.max_s)):
        raise CliError(f"--max-s must be a finite number of seconds > 0, got {a.max_s:g}")
    if a.revision and not a.weights:
        raise CliError("--revision needs --weights (a hub repo id)")
    from engine.session.naming import clean_label, label_slug

    if a.label.strip() and not label_slug(a.label):
        raise UsageError(f"--label: {a.label!r} has no letter or digit for the file name (A-Z, 0-9)")
    if a.weights:
        from engine.runner.run import check_weights

        try:
            check_weights(a.model, a.weights)  # lite has none to load: said before any engine starts
        except ValueError as e:
            raise UsageError(str(e)) from None
    if a.brain == "llm" and not a.llm_url:
        raise CliError(
            "--brain llm needs --llm-url (an OpenAI-compatible server, e.g. http://127.0.0.1:11434/v1)"
        )
    if a.revision and Path(a.weights).expanduser().is_dir():
        print(f"{PROG}: note: --revision ignored: {a.weights} is a local folder", file=sys.stderr)
    model_options = _key_values(a.model_option, "--model-option")
    if a.weights:
        from engine.registry import ignored_with_weights

        for key in ignored_with_weights(a.model, model_options):
            print(
                f"{PROG}: note: --model-option {key} ignored: the weights' config.json decides "
                "(it shapes only an untrained model)",
                file=sys.stderr,
            )
    return RunConfig(
        model=a.model,
        input=a.input,
        output=a.output,
        realtime=a.realtime,
        max_ahead_units=a.max_ahead_units,
        echo_delay_ms=a.echo_delay_ms,
        echo_gain=a.echo_gain,
        tail_s=a.tail_s,
        max_s=a.max_s,
        camera=not a.no_camera,
        persona=a.persona,
        avatar=a.avatar,
        brain=a.brain,
        llm_url=a.llm_url,
        llm_model=a.llm_model,
        device=a.device,
        weights=a.weights,
        revision=a.revision,
        log_path=a.log,
        overwrite=a.overwrite,
        start_timeout_s=a.start_timeout_s,
        texts=_timed_texts(a.say, False, "--say") + _timed_texts(a.operator, True, "--operator"),
        model_options=model_options,
        label=clean_label(a.label),
    )


def cmd_run(a: argparse.Namespace) -> int:
    if a.output is None:
        a.output, a.default_prefix = _default_output("run", a.label), "run"
    _check_input(a.input)
    summary = _run_keeping(a)
    print(json.dumps(summary, indent=2))
    return 0


def _warn(summary: dict[str, Any]) -> None:
    """What went wrong but did not stop the run (the chat server was down, ...), on stderr."""
    for line in summary.get("warnings", []):
        print(f"{PROG}: warning: {line}", file=sys.stderr)


def _check_input(spec: str) -> None:
    if spec.startswith("lavfi:"):
        return
    from engine.media.reader import not_a_file

    path = Path(spec)
    if path.is_dir():
        raise CliError(f"the input is a folder, not a file: {spec}")
    if not path.is_file():
        raise CliError(not_a_file(spec))
    if path.stat().st_size == 0:
        raise CliError(f"the input file is empty (0 bytes): {spec}")


def cmd_demo(a: argparse.Namespace) -> int:
    from engine.paths import assets_dir

    if a.input is None:
        a.input = str(assets_dir() / DEMO_INPUT)
        if not Path(a.input).is_file():
            raise CliError(f"the demo input is missing: {a.input} (reinstall Duet or pass --input FILE)")
    _check_input(a.input)
    if a.output is None:
        a.output, a.default_prefix = _default_output("demo", a.label), "demo"
    summary = _run_keeping(a)
    print(json.dumps(summary, indent=2))
    _print_conversation(summary["path"])
    print(f"demo session written: {summary['path']}", file=sys.stderr)  # stdout stays one JSON object
    return 0


def cmd_models(a: argparse.Namespace) -> int:
    from engine.registry import available

    infos = available(include_hidden=a.all)
    if a.json:
        rows = [
            {
                "name": i.name,
                "description": i.description,
                "needs_weights": i.needs_weights,
                "hidden": i.hidden,
                "options": list(i.options) if i.options is not None else None,  # --model-option KEYs
            }
            for i in infos
        ]
        print(json.dumps(rows, indent=2))
    else:
        width = max((len(i.name) for i in infos), default=0)
        for i in infos:
            opts = f" (--model-option {', '.join(i.options)})" if i.options else ""
            print(f"{i.name:<{width}}  {i.description}{opts}")
    return 0


def cmd_voices(a: argparse.Namespace) -> int:
    from engine.models.lite.voice import VOICE_PRESETS

    if a.json:
        print(json.dumps([{"id": k, "description": v.description} for k, v in sorted(VOICE_PRESETS.items())]))
    else:
        width = max(len(k) for k in VOICE_PRESETS)
        for k, v in sorted(VOICE_PRESETS.items()):
            print(f"{k:<{width}}  {v.description}")
    return 0


def passthrough(argv: list[str]) -> tuple[str, str, list[str]] | None:
    """`bench KIND ARGS...` / `train ARGS...`: (target, what, ARGS) handed over untouched, else None."""
    if argv[:1] == ["train"]:
        return TRAIN, "training", argv[1:]
    if argv[:1] == ["bench"] and len(argv) > 1 and argv[1] in BENCHES:
        return BENCHES[argv[1]], f"benchmark {argv[1]!r}", argv[2:]
    return None


def cmd_bench(a: argparse.Namespace) -> int:
    return int(_load(BENCHES[a.kind], f"benchmark {a.kind!r}")(list(a.args)) or 0)


def cmd_train(a: argparse.Namespace) -> int:
    return int(_load(TRAIN, "training")(list(a.args)) or 0)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": cmd_run,
    "demo": cmd_demo,
    "models": cmd_models,
    "voices": cmd_voices,
    "show": cmd_show,
    "bench": cmd_bench,
    "train": cmd_train,
}


class _LowerLevelFormatter(logging.Formatter):
    """`duet-engine: warning: ...`, like the command's own `duet-engine: error: ...`."""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace(f": {record.levelname}: ", f": {record.levelname.lower()}: ", 1)


def _log_warnings_to_stderr() -> None:
    """Warnings of what runs in this process (bench lite's model, training) reach the user; the
    engine client's "engine crashed/hung" does not: the command reports that itself, once."""
    root = logging.getLogger()
    if not any(getattr(h, "_duet_cli", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setLevel(logging.WARNING)
        handler.setFormatter(_LowerLevelFormatter(f"{PROG}: %(levelname)s: %(message)s"))
        handler._duet_cli = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    logging.getLogger("duet.client").setLevel(logging.CRITICAL)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _log_warnings_to_stderr()
    try:
        handover = passthrough(argv)  # their own parsers see every option, --help included
        if handover is not None:
            target, what, rest = handover
            rc = int(_load(target, what)(rest) or 0)
        else:
            args = build_parser().parse_args(argv)
            rc = COMMANDS[args.command](args)
        sys.stdout.flush()  # a reader gone from a buffered pipe is noticed here, not at exit
        return rc
    except KeyboardInterrupt as e:
        print(f"{PROG}: interrupted" + (f"; {e}" if isinstance(e, Interrupted) else ""), file=sys.stderr)
        return e.code if isinstance(e, Interrupted) else 130
    except UsageError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError as e:
        if not _stdout_closed():
            print(f"{PROG}: error: {e}", file=sys.stderr)
            return 1
        return 141  # `show FILE | head`: the reader left; nothing to say (128 + SIGPIPE, as a shell)
    except Exception as e:
        if isinstance(e, _user_errors()):
            print(f"{PROG}: error: {_one_line(str(e))}", file=sys.stderr)
            return 1
        raise


def _stdout_closed() -> bool:
    """Whether stdout's reader has gone (a pipe with its reading end closed polls as an error); then
    stdout is pointed at devnull, so the interpreter's own flush at exit does not complain again.
    Where poll() is missing (Windows) a broken pipe in the CLI is taken to be stdout."""
    try:
        fd = sys.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        gone = any(ev & (select.POLLERR | select.POLLHUP) for _, ev in poller.poll(0))
    except (AttributeError, OSError, ValueError):
        gone = True
    if gone:
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return gone


if __name__ == "__main__":  # `python -m engine.cli.main ...`, the same as the `duet-engine` console script
    sys.exit(main())

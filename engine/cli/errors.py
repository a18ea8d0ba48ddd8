"""The command line's errors: a user-facing one is one line `duet-engine: error: ...` (exit 1;
a usage error exit 2), never a traceback."""

from __future__ import annotations

import contextlib
import importlib
import re

PROG = "duet-engine"


class CliError(Exception):
    """A user-facing error: printed as one line."""


class UsageError(CliError):
    """A setting no run could use, found after argparse: one line, exit 2 (a usage error)."""


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean "bad input or environment", not a bug. A module that cannot be
    imported here (no PyAV on a bare GPU image running `bench gpu`) raised none of them."""
    types: list[type[BaseException]] = [CliError, OSError, ValueError]  # SessionWriteError: an OSError
    for module, name in (
        ("engine.client", "EngineStartError"),
        ("engine.media", "MediaError"),
        ("engine.registry", "UnknownModelError"),
        ("engine.runner", "RunnerError"),
        ("engine.session", "SessionReadError"),
    ):
        with contextlib.suppress(ImportError):
            types.append(getattr(importlib.import_module(module), name))
    return tuple(types)


def _one_line(message: str) -> str:
    """The first line of an error; a multi-line engine log tail becomes a pointer to the log."""
    lines = message.strip().splitlines() or ["unknown error"]
    first, log_path, cause = lines[0], "", ""
    for line in lines[1:]:
        if line.startswith("--- engine log (") and line.endswith(") ---"):
            log_path = line[len("--- engine log (") : -len(") ---")]
        elif log_path and re.match(r"^[\w.]+(Error|Exception|Exit): ", line):
            cause = line.split(": ", 1)[1].strip()  # the engine's own exception message
    if cause and cause not in first:
        first = f"{first}: {cause}"
    return f"{first} (engine log: {log_path})" if log_path else first

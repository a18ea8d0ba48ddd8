"""`duet-engine` command line; `main()` is the console entry point.

The package imports `.main` lazily, so `python -m engine.cli.main` runs that module cleanly (runpy
warns when a package has already imported the module it is asked to run).
"""

from __future__ import annotations

from typing import Any


def main(argv: list[str] | None = None) -> int:
    from .main import main as run

    return run(argv)


def __getattr__(name: str) -> Any:
    if name in ("BENCHES", "build_parser"):
        from . import main as module

        return getattr(module, name)
    raise AttributeError(f"module 'engine.cli' has no attribute {name!r}")


__all__ = ["BENCHES", "build_parser", "main"]

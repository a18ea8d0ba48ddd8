"""`duet-engine` command line; `main()` is the console entry point."""

from .main import BENCHES, build_parser, main

__all__ = ["BENCHES", "build_parser", "main"]

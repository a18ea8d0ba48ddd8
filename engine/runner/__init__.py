"""Headless runner: feeds an input file through the engine and writes a two-sided session file."""

from .echo import EchoPath
from .run import RunConfig, RunnerError, run_session

__all__ = ["EchoPath", "RunConfig", "RunnerError", "run_session"]

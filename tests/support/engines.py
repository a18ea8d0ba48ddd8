"""The `client_factory` fixture's type (the fixture itself is in tests/conftest.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from engine.client import EngineClient


class ClientFactory(Protocol):
    """What `client_factory` yields: make(model, **EngineClient kwargs) -> an EngineClient on the
    CPU (not started), stopped at teardown; the test fails if an engine process is left or if an
    engine logged a warning from our code."""

    def __call__(self, model: str = "testecho", **kw: Any) -> EngineClient: ...

"""The window's first size fits the screen it opens on (a small laptop keeps the bottom bar)."""

from __future__ import annotations

from app.window import DEFAULT_SIZE, MIN_SIZE, first_size


def test_the_first_size_fits_the_screen() -> None:
    assert first_size((1920, 1080)) == DEFAULT_SIZE == (1180, 760)
    assert first_size((1024, 640)) == (1024, 640)  # shrunk to the available area, bottom bar included
    assert first_size((1180, 600)) == (1180, 600)
    assert first_size((640, 480)) == MIN_SIZE  # never under the size the layout needs

"""Avatar views: vispy (OpenGL under Xvfb) and the QPainter fallback draw frames with aspect kept."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest
from PySide6.QtGui import QImage

from app.views import PainterView, VispyView, make_avatar_view, opengl_available

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot

    from .conftest import DuetWindow

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("qt_clean")]


def to_array(img: QImage) -> np.ndarray:
    img = img.convertToFormat(QImage.Format.Format_RGB888)
    buf = np.frombuffer(img.constBits(), np.uint8, count=img.bytesPerLine() * img.height())
    rows = buf.reshape(img.height(), img.bytesPerLine())[:, : img.width() * 3]
    return rows.reshape(img.height(), img.width(), 3).copy()  # copy: the QImage dies on return


@pytest.mark.parametrize("use_gl", [True, False], ids=["vispy", "qpainter"])
def test_view_draws_frame_centered_with_aspect(qtbot: QtBot, use_gl: bool) -> None:
    view = make_avatar_view(use_gl)
    qtbot.addWidget(view)
    assert isinstance(view, VispyView if use_gl else PainterView)
    view.resize(600, 300)  # wide: the square frame is letterboxed left and right
    view.show()
    qtbot.waitExposed(view)
    frame = np.zeros((128, 128, 3), np.uint8)
    frame[..., 0] = 220
    frame[..., 2] = 40
    presented: list[float] = []
    view.presented.append(lambda t, f: presented.append(t))
    view.set_frame(frame)
    qtbot.waitUntil(lambda: bool(presented), timeout=5_000)
    img = to_array(view.snapshot())
    h, w, _ = img.shape
    centre = img[h // 2, w // 2].astype(int)
    assert abs(centre[0] - 220) < 10 and abs(centre[2] - 40) < 10
    edge = img[h // 2, 5].astype(int)  # letterbox: background, not the frame
    assert edge[0] < 60
    square = (img[h // 2, :, 0] > 150).sum()
    assert abs(square - h) <= 0.05 * h + 2  # the drawn frame is as wide as it is tall
    view.close_view()


def test_opengl_detection_and_forced_fallback(qtbot: QtBot) -> None:
    assert opengl_available()  # Xvfb + GLX + Mesa
    view = make_avatar_view(False)
    qtbot.addWidget(view)
    assert view.kind == "qpainter"


def test_auto_picks_the_gl_view_when_opengl_works(qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    from app import views

    assert views.opengl_renderer()  # Mesa llvmpipe under Xvfb
    view = make_avatar_view("auto")
    qtbot.addWidget(view)
    assert view.kind == "vispy"
    monkeypatch.setattr(views, "opengl_renderer", lambda: None)  # no OpenGL context at all
    fallback = make_avatar_view("auto")
    qtbot.addWidget(fallback)
    assert fallback.kind == "qpainter"


def test_window_falls_back_to_painter_when_gl_never_draws(
    duet_window: DuetWindow, qtbot: QtBot, pipewire: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.gl_window import GLFrameWindow

    monkeypatch.setattr(GLFrameWindow, "_render", lambda self, swap: False)  # a GL that shows nothing
    w = duet_window("testecho", use_gl=True)
    assert w.stage.view.kind == "vispy"
    qtbot.waitUntil(lambda: w.stage.view.kind == "qpainter", timeout=20_000)
    before = w.stage.view.frames_set
    qtbot.waitUntil(lambda: w.stage.view.frames_set > before + 5, timeout=10_000)
    assert w.stage.view.last_frame is not None

"""Avatar views: vispy.gloo in a native OpenGL window (texture upload) and a QPainter fallback.

Both take RGB uint8 (S, S, 3) frames through `set_frame`, keep the aspect ratio on resize and
letterbox on the dark background. `make_avatar_view` picks vispy when an OpenGL context can be
created (Xvfb + Mesa works; QT_QPA_PLATFORM=offscreen has no OpenGL) and the painter otherwise.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QImage, QOffscreenSurface, QOpenGLContext, QPainter
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

log = logging.getLogger(__name__)
BACKGROUND = (0.07, 0.08, 0.10)


def rgb_to_qimage(frame: np.ndarray) -> QImage:
    """uint8 (H, W, 3) -> a QImage that owns a copy of the pixels."""
    frame = np.ascontiguousarray(frame, dtype=np.uint8)
    h, w, _ = frame.shape
    return QImage(frame.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def _probe_gl(read_renderer: bool) -> str | None:
    if QGuiApplication.platformName() in ("offscreen", "minimal", "vnc"):
        return None
    ctx = QOpenGLContext()
    if not ctx.create():
        return None
    surface = QOffscreenSurface()
    surface.create()
    renderer: str | None = None
    if ctx.makeCurrent(surface):
        renderer = "unknown"
        if read_renderer:
            from vispy.gloo import gl

            renderer = str(gl.glGetParameter(gl.GL_RENDERER) or "unknown")
        ctx.doneCurrent()
    surface.destroy()
    return renderer


def opengl_renderer() -> str | None:
    """The OpenGL renderer string, or None when no OpenGL context can be made current."""
    return _probe_gl(read_renderer=True)


def opengl_available() -> bool:
    return _probe_gl(read_renderer=False) is not None


class AvatarView(QWidget):
    """Common base: `set_frame`, `frames_drawn`, `kind`; emits `failed` if rendering breaks."""

    failed = Signal(str)
    kind = "none"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(240, 240)
        self.frames_set = 0
        self.last_frame: np.ndarray | None = None
        # called as fn(monotonic_s, frame) when a new frame has been drawn (measurement hooks)
        self.presented: list[Callable[[float, np.ndarray], None]] = []
        self._presented_frame: np.ndarray | None = None

    def _notify_presented(self) -> None:
        frame = self.last_frame
        if frame is None or frame is self._presented_frame:
            return
        self._presented_frame = frame
        t = time.monotonic()
        for fn in self.presented:
            fn(t, frame)

    def set_frame(self, frame: np.ndarray) -> None:
        raise NotImplementedError

    def snapshot(self) -> QImage:
        return self.grab().toImage()

    def close_view(self) -> None:
        pass


class PainterView(AvatarView):
    kind = "qpainter"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)

    def set_frame(self, frame: np.ndarray) -> None:
        self.last_frame = frame
        self._image = rgb_to_qimage(frame)
        self.frames_set += 1
        self.update()

    def paintEvent(self, event: object) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor.fromRgbF(*BACKGROUND))
        if self._image is not None:
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            p.drawImage(
                _fit(self._image.width(), self._image.height(), self.width(), self.height()), self._image
            )
        p.end()
        self._notify_presented()


def _fit(w: int, h: int, box_w: int, box_h: int) -> QRectF:
    scale = min(box_w / max(w, 1), box_h / max(h, 1))
    dw, dh = w * scale, h * scale
    return QRectF((box_w - dw) / 2, (box_h - dh) / 2, dw, dh)


class VispyView(AvatarView):
    """OpenGL view: vispy.gloo draws the frame as a texture in a native GL window (app.gl_window)
    embedded with createWindowContainer; the GPU scales it with aspect kept.

    Not a QOpenGLWidget on purpose: that makes Qt compose the whole top-level window through
    OpenGL on every frame, which on Mesa llvmpipe costs ~3x the CPU of the QPainter view. The
    embedded native window is drawn on top of its non-native siblings, so overlays on the view
    (self-view, HUD) are made native windows stacked above it (see `_lift_overlays`).
    """

    kind = "vispy"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from .gl_window import GLFrameWindow

        # native view (and, through it, native ancestors): the container then parents the GL window
        # to its own native window. Without this the GL window is parented to the top-level window
        # and any native sibling created later (the overlays below) is stacked over it: a blank view.
        self.setAttribute(Qt.WidgetAttribute.WA_NativeWindow, True)
        self._gl = GLFrameWindow(BACKGROUND, on_drawn=self._notify_presented, on_error=self.failed.emit)
        self._container = QWidget.createWindowContainer(self._gl, self)
        self._container.setAttribute(Qt.WidgetAttribute.WA_NativeWindow, True)
        self._container.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self._container.setMinimumSize(1, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self._container)

    @property
    def draws(self) -> int:
        """Buffer swaps that showed a frame (0 while nothing could be drawn)."""
        return self._gl.draws

    def set_frame(self, frame: np.ndarray) -> None:
        self.last_frame = frame
        self._gl.set_frame(frame)
        self.frames_set += 1

    def showEvent(self, event: object) -> None:
        super().showEvent(event)  # type: ignore[arg-type]
        self._lift_overlays()

    def _lift_overlays(self) -> None:
        """Sibling widgets stacked above this view (overlays) become native child windows so the
        GL window does not hide them; they keep their stacking order (raise_ them as before)."""
        parent = self.parentWidget()
        if parent is None:
            return
        siblings = [w for w in parent.children() if isinstance(w, QWidget) and w is not self]
        for w in siblings:  # children() is bottom-to-top: raising each in turn keeps their order
            if not w.isWindow():
                w.setAttribute(Qt.WidgetAttribute.WA_NativeWindow, True)
                w.raise_()

    def snapshot(self) -> QImage:
        img = self._gl.read_pixels()
        if img is None:
            return super().snapshot()
        return rgb_to_qimage(img)

    def close_view(self) -> None:
        self._gl.release()


def make_avatar_view(use_gl: bool | str, parent: QWidget | None = None) -> AvatarView:
    """use_gl: True or "auto" = the vispy view when an OpenGL context works (software rasterizers
    included: the native GL window costs ~34% of a core at 25 fps on Mesa llvmpipe, measured with
    `python -m app.bench`), else QPainter; False = QPainter."""
    if use_gl == "auto":
        renderer = opengl_renderer()
        if renderer is not None:
            log.info("OpenGL renderer: %s", renderer)
        use_gl = renderer is not None
    if use_gl and opengl_available():
        try:
            return VispyView(parent)
        except Exception as e:  # missing GL functions, vispy backend errors
            log.warning("OpenGL view unavailable (%s): using the QPainter view", e)
    elif use_gl:
        log.info("no OpenGL context on platform %r: using the QPainter view", QGuiApplication.platformName())
    return PainterView(parent)


class SelfView(QLabel):
    """Small picture-in-picture of the user's camera (QImage in, scaled with aspect)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("selfView")
        self.setFixedSize(192, 144)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setText("camera off")
        self.frames = 0

    def show_image(self, image: QImage) -> None:
        self.frames += 1
        pm = image.scaled(
            self.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation
        )
        from PySide6.QtGui import QPixmap

        self.setPixmap(QPixmap.fromImage(pm))

    def show_message(self, text: str) -> None:
        self.clear()
        self.setText(text)

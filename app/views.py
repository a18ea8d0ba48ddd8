"""Avatar views: a vispy SceneCanvas (OpenGL texture upload) and a QPainter fallback.

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


SOFTWARE_GL = ("llvmpipe", "softpipe", "swrast", "software", "lavapipe")


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
    """vispy SceneCanvas (backend pyside6) with one Image visual; the camera keeps aspect 1:1."""

    kind = "vispy"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from vispy import app as vapp
        from vispy import scene

        vapp.use_app("pyside6")
        # autoswap=False: QOpenGLWidget composes its FBO itself; swapping its offscreen surface only
        # costs a full GPU sync per frame (~17 ms on Mesa llvmpipe)
        self._canvas = scene.SceneCanvas(
            keys=None, show=False, bgcolor=BACKGROUND, parent=self, vsync=False, autoswap=False
        )
        self._view = self._canvas.central_widget.add_view()
        self._view.camera = scene.PanZoomCamera(aspect=1)
        self._view.camera.flip = (False, True, False)
        self._view.camera.interactive = False
        self._shape: tuple[int, int] = (0, 0)
        # uint8 texture, scaled on the GPU: no per-frame float conversion or min/max on the CPU
        self._image = scene.visuals.Image(
            np.zeros((8, 8, 3), np.uint8),
            parent=self._view.scene,
            interpolation="linear",
            texture_format="auto",
            clim=(0, 255),
        )
        self._set_range(8, 8)
        self.draws = 0
        self._canvas.events.draw.connect(self._on_draw)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self._canvas.native)

    def _on_draw(self, event: object) -> None:
        self.draws += 1
        self._notify_presented()

    def _set_range(self, w: int, h: int) -> None:
        self._shape = (h, w)
        self._view.camera.set_range(x=(0, w), y=(0, h), margin=0)

    def set_frame(self, frame: np.ndarray) -> None:
        self.last_frame = frame
        h, w = frame.shape[:2]
        self._image.set_data(frame)
        if (h, w) != self._shape:
            self._set_range(w, h)
        self.frames_set += 1
        self._canvas.update()

    def snapshot(self) -> QImage:
        img = self._canvas.render(alpha=False)  # (H, W, 3|4) uint8
        return rgb_to_qimage(np.ascontiguousarray(img[..., :3]))

    def close_view(self) -> None:
        try:
            self._canvas.events.draw.disconnect(self._on_draw)
            self._canvas.close()
        except Exception as e:  # closing a GL canvas twice or without a context
            log.debug("vispy close: %s", e)


def make_avatar_view(use_gl: bool | str, parent: QWidget | None = None) -> AvatarView:
    """use_gl: True = vispy when OpenGL works; False = QPainter; "auto" = vispy on a hardware GL
    driver, QPainter on a software rasterizer (llvmpipe), where composing a QOpenGLWidget into the
    window costs far more CPU than painting the frame (measured: ~87% vs ~27% of a core)."""
    if use_gl == "auto":
        renderer = opengl_renderer()
        soft = renderer is not None and any(k in renderer.lower() for k in SOFTWARE_GL)
        if soft:
            log.info("software OpenGL (%s): using the QPainter view (--gl forces vispy)", renderer)
        use_gl = renderer is not None and not soft
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

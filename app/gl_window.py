"""A native OpenGL window that draws the avatar frame as a texture with vispy.gloo.

Why not vispy's own Qt canvas: that is a QOpenGLWidget, and one QOpenGLWidget in a window makes Qt
compose the WHOLE top-level window through OpenGL on every frame (on Mesa llvmpipe under Xvfb that
is ~90% of a core at 1180x760). This QWindow has its own GL context and native surface; it is
embedded with QWidget.createWindowContainer, so the rest of the window stays a raster backing store
and a frame costs one texture sub-upload (S x S RGB), one textured quad and one swap of the view's
own area. vispy.gloo runs without vispy.app through a `FakeCanvas` (its GLIR commands are flushed
into whichever context is current: ours, made current just before).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QEvent
from PySide6.QtGui import QExposeEvent, QOpenGLContext, QSurface, QSurfaceFormat, QWindow

log = logging.getLogger(__name__)

VERTEX = """
attribute vec2 a_pos;   // clip space, the quad fills the viewport
attribute vec2 a_uv;
varying vec2 v_uv;
void main() { gl_Position = vec4(a_pos, 0.0, 1.0); v_uv = a_uv; }
"""
FRAGMENT = """
uniform sampler2D u_tex;
varying vec2 v_uv;
void main() { gl_FragColor = vec4(texture2D(u_tex, v_uv).rgb, 1.0); }
"""
# triangle strip; texture row 0 (the image's top) at the top of the viewport
QUAD_POS = np.array([[-1, -1], [1, -1], [-1, 1], [1, 1]], np.float32)
QUAD_UV = np.array([[0, 1], [1, 1], [0, 0], [1, 0]], np.float32)


def fit_rect(w: int, h: int, box_w: int, box_h: int) -> tuple[int, int, int, int]:
    """(x, y, width, height) in pixels of a w x h image scaled to fit box_w x box_h, centred."""
    scale = min(box_w / max(w, 1), box_h / max(h, 1))
    dw, dh = max(1, round(w * scale)), max(1, round(h * scale))
    return (box_w - dw) // 2, (box_h - dh) // 2, dw, dh


class GLFrameWindow(QWindow):
    """Draws the latest RGB uint8 (H, W, 3) frame letterboxed on `background` (r, g, b in 0..1).

    `set_frame` uploads nothing by itself: it asks for an update, and the frame is uploaded and
    drawn once per UpdateRequest (coalesced, so a burst of frames costs one draw). `on_drawn` is
    called after each buffer swap that showed a frame. Errors in GL are reported once through
    `on_error` (the view then falls back to painting).
    """

    def __init__(
        self,
        background: tuple[float, float, float],
        on_drawn: Callable[[], None],
        on_error: Callable[[str], None],
    ) -> None:
        super().__init__()
        self.setSurfaceType(QSurface.SurfaceType.OpenGLSurface)
        fmt = QSurfaceFormat()
        fmt.setSwapInterval(0)  # no vsync: the app paces frames by the audio clock
        fmt.setSwapBehavior(QSurfaceFormat.SwapBehavior.DoubleBuffer)
        fmt.setDepthBufferSize(0)
        fmt.setStencilBufferSize(0)
        fmt.setAlphaBufferSize(0)
        fmt.setSamples(0)
        self.setFormat(fmt)
        self.background = background
        self._on_drawn = on_drawn
        self._on_error = on_error
        self._ctx: QOpenGLContext | None = None
        self._gloo: object = None  # vispy FakeCanvas
        self._program: object = None
        self._texture: object = None
        self._tex_shape: tuple[int, ...] = ()
        self._frame: np.ndarray | None = None
        self._uploaded: np.ndarray | None = None
        self._pending = False
        self.failed = False
        self.draws = 0  # swaps that showed a frame

    # ------------------------------------------------------------------ public
    def set_frame(self, frame: np.ndarray) -> None:
        self._frame = frame
        self.schedule()

    def schedule(self) -> None:
        if not self._pending and self.isExposed() and not self.failed:
            self._pending = True
            self.requestUpdate()

    def read_pixels(self) -> np.ndarray | None:
        """Render now and read the back buffer: uint8 (H, W, 3) at the window's pixel size."""
        if not self._render(swap=False):
            return None
        from vispy.gloo import gl

        w, h = self._pixel_size()
        gl.glPixelStorei(gl.GL_PACK_ALIGNMENT, 1)
        raw = gl.glReadPixels(0, 0, w, h, gl.GL_RGB, gl.GL_UNSIGNED_BYTE)
        img = np.frombuffer(raw, np.uint8).reshape(h, w, 3)[::-1].copy()  # GL rows are bottom-up
        assert self._ctx is not None
        self._ctx.doneCurrent()
        return img

    def release(self) -> None:
        """Free GL objects (with the context current) and the context; safe to call twice."""
        ctx = self._ctx
        self._ctx = None
        if ctx is not None and self._gloo is not None and ctx.makeCurrent(self):
            try:
                for obj in (self._program, self._texture):
                    if obj is not None:
                        obj.delete()  # type: ignore[attr-defined]
                self._flush()
            except Exception as e:  # a context already gone with its window
                log.debug("gl release: %s", e)
            ctx.doneCurrent()
        self._gloo = self._program = self._texture = None
        self._tex_shape = ()

    # ------------------------------------------------------------------ Qt events
    def exposeEvent(self, event: QExposeEvent) -> None:
        if self.isExposed():
            self._render(swap=True)

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.UpdateRequest:
            self._pending = False
            self._render(swap=True)
            return True
        return super().event(event)

    # ------------------------------------------------------------------ drawing
    def _pixel_size(self) -> tuple[int, int]:
        ratio = self.devicePixelRatio()
        return max(1, round(self.width() * ratio)), max(1, round(self.height() * ratio))

    def _flush(self) -> None:
        from vispy.gloo.context import set_current_canvas

        set_current_canvas(self._gloo)  # several views may exist: route GLIR to ours
        self._gloo.flush()  # type: ignore[attr-defined]

    def _ensure_gl(self) -> bool:
        if self._ctx is None:
            ctx = QOpenGLContext()
            ctx.setFormat(self.requestedFormat())
            if not ctx.create():
                raise RuntimeError("cannot create an OpenGL context")
            self._ctx = ctx
        if not self._ctx.makeCurrent(self):
            raise RuntimeError("cannot make the OpenGL context current")
        if self._gloo is None:
            from vispy import gloo
            from vispy.gloo.context import FakeCanvas

            self._gloo = FakeCanvas()
            self._program = gloo.Program(VERTEX, FRAGMENT, count=4)
            self._program["a_pos"] = QUAD_POS  # type: ignore[index]
            self._program["a_uv"] = QUAD_UV  # type: ignore[index]
        return True

    def _upload(self) -> None:
        frame = self._frame
        if frame is None or frame is self._uploaded:
            return
        frame = np.ascontiguousarray(frame, dtype=np.uint8)
        if frame.shape != self._tex_shape:
            from vispy import gloo

            if self._texture is not None:
                self._texture.delete()  # type: ignore[attr-defined]
            self._texture = gloo.Texture2D(frame, interpolation="linear", wrapping="clamp_to_edge")
            self._program["u_tex"] = self._texture  # type: ignore[index]
            self._tex_shape = frame.shape
        else:
            self._texture.set_data(frame)  # type: ignore[attr-defined]  # glTexSubImage2D, same size
        self._uploaded = self._frame

    def _render(self, swap: bool) -> bool:
        if self.failed or (swap and not self.isExposed()):
            return False
        try:
            self._ensure_gl()
            from vispy import gloo
            from vispy.gloo.context import set_current_canvas

            set_current_canvas(self._gloo)
            self._upload()
            w, h = self._pixel_size()
            gloo.set_viewport(0, 0, w, h)
            gloo.set_clear_color((*self.background, 1.0))
            gloo.clear(color=True, depth=False, stencil=False)
            shown = self._texture is not None
            if shown:
                th, tw = self._tex_shape[:2]
                gloo.set_viewport(*fit_rect(tw, th, w, h))
                self._program.draw("triangle_strip")  # type: ignore[attr-defined]
            self._flush()
            if swap:
                assert self._ctx is not None
                self._ctx.swapBuffers(self)
                if shown:
                    self.draws += 1
                    self._on_drawn()
            return True
        except Exception as e:  # no GL functions, driver errors: report once, stop drawing
            self.failed = True
            log.warning("OpenGL view failed: %s", e)
            self._on_error(str(e))
            return False

"""Camera capture through QtMultimedia: QCamera -> QMediaCaptureSession -> QVideoSink.

Frames are converted to RGB uint8, scaled to fit 640x480, stamped with the session tick and pushed
to the engine (at most one frame per tick). `handle_frame` is public so any QVideoSink (e.g. a
QMediaPlayer playing a file, in tests) can feed the same path. Missing or failing cameras are
reported through `message` (shown in the window); the app keeps running audio-only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, QSize, Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtMultimedia import (
    QCamera,
    QCameraDevice,
    QCameraFormat,
    QMediaCaptureSession,
    QMediaDevices,
    QVideoFrame,
    QVideoSink,
)

log = logging.getLogger(__name__)
MAX_W, MAX_H = 640, 480
FrameSink = Callable[[int, np.ndarray], None]  # (tick, uint8 (H<=480, W<=640, 3))


def qimage_to_rgb(image: QImage, max_w: int = MAX_W, max_h: int = MAX_H) -> np.ndarray:
    """Any QImage -> uint8 (H, W, 3) RGB, scaled down (keeping aspect) to fit max_w x max_h."""
    if image.width() > max_w or image.height() > max_h:
        image = image.scaled(
            QSize(max_w, max_h),
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h, bpl = image.width(), image.height(), image.bytesPerLine()
    buf = np.frombuffer(image.constBits(), np.uint8, count=bpl * h).reshape(h, bpl)
    return buf[:, : w * 3].reshape(h, w, 3).copy()  # copy: the QImage buffer dies with `image`


def format_score(width: int, height: int, max_fps: float, want_w: int = 640, want_h: int = 480) -> float:
    """Lower is better: area distance from want_w x want_h; a slow mode (< 24 fps) loses to any size."""
    area_err = abs(width * height - want_w * want_h) / (want_w * want_h)
    fps_err = 0.0 if max_fps >= 24.0 else 4.0 * (2.0 - max_fps / 25.0)  # outweighs any size
    too_small = 2.0 if width < want_w // 2 else 0.0  # too few pixels for a face at arm's length
    return area_err + fps_err + too_small


def pick_format(device: QCameraDevice, want_w: int = 640, want_h: int = 480) -> QCameraFormat | None:
    """The format closest to want_w x want_h whose frame rate range covers ~25-30 fps."""
    best: tuple[float, QCameraFormat] | None = None
    for fmt in device.videoFormats():
        res = fmt.resolution()
        score = format_score(res.width(), res.height(), fmt.maxFrameRate(), want_w, want_h)
        if best is None or score < best[0]:
            best = (score, fmt)
    return best[1] if best else None


class CameraCapture(QObject):
    image_ready = Signal(QImage)  # small preview for the self-view
    message = Signal(str)  # "" = all good; otherwise a user-facing problem description
    devices_changed = Signal()

    def __init__(
        self, sink: FrameSink, tick_source: Callable[[], int], parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.sink = sink
        self.tick_source = tick_source
        self.frames_in = 0
        self.frames_pushed = 0
        self.last_pushed_tick = -1
        self.enabled = True
        self._devices = QMediaDevices(self)
        self._devices.videoInputsChanged.connect(self._on_devices_changed)
        self._camera: QCamera | None = None
        self._session = QMediaCaptureSession(self)
        self._sink = QVideoSink(self)
        self._session.setVideoSink(self._sink)
        self._sink.videoFrameChanged.connect(self.handle_frame)
        self.device_id = ""

    # ------------------------------------------------------------------ devices
    @staticmethod
    def devices() -> list[tuple[str, str]]:
        """(id, description) of every camera; id is the device id decoded as latin-1."""
        return [
            (bytes(d.id().data()).decode("latin-1"), d.description()) for d in QMediaDevices.videoInputs()
        ]

    def _on_devices_changed(self) -> None:
        ids = [i for i, _ in self.devices()]
        if self._camera is not None and self.device_id and self.device_id not in ids:
            self.stop()
            self.message.emit("The camera was unplugged — audio-only. Pick a camera to resume video.")
        self.devices_changed.emit()

    def start(self, device_id: str = "") -> bool:
        """Open `device_id` ("" = default). Returns False (and emits `message`) when impossible."""
        self.stop()
        inputs = QMediaDevices.videoInputs()
        if not inputs:
            self.message.emit("No camera found — audio-only conversation.")
            return False
        device = next((d for d in inputs if bytes(d.id().data()).decode("latin-1") == device_id), None)
        if device is None:
            device = QMediaDevices.defaultVideoInput()
            if device.isNull():
                device = inputs[0]
        cam = QCamera(device, self)
        fmt = pick_format(device)
        if fmt is not None:
            cam.setCameraFormat(fmt)
        cam.errorOccurred.connect(self._on_error)
        self._session.setCamera(cam)
        self._camera = cam
        self.device_id = bytes(device.id().data()).decode("latin-1")
        cam.start()
        log.info(
            "camera %s started (%s)", device.description(), fmt.resolution() if fmt else "default format"
        )
        self.message.emit("")
        return True

    def _on_error(self, error: QCamera.Error, text: str) -> None:
        log.warning("camera error %s: %s", error, text)
        self.message.emit(f"Camera problem: {text or error} — audio-only.")
        self.stop()

    def stop(self) -> None:
        cam, self._camera = self._camera, None
        if cam is not None:
            cam.blockSignals(True)  # no error reports from a camera we are dropping
            cam.stop()
            self._session.setCamera(None)  # type: ignore[arg-type]  # nullptr detaches (stubs say QCamera)
            cam.deleteLater()

    @property
    def active(self) -> bool:
        return self._camera is not None and self._camera.isActive()

    # ------------------------------------------------------------------ frames
    def handle_frame(self, frame: QVideoFrame) -> None:
        """Any video frame (camera or test file) -> RGB -> engine, one per tick; every frame goes
        to the self-view, pushed or not (no session yet, an engine restarting)."""
        self.frames_in += 1
        if not self.enabled or not frame.isValid():
            return
        image = frame.toImage()
        if image.isNull():
            return
        self.image_ready.emit(image.scaled(192, 144, Qt.AspectRatioMode.KeepAspectRatio))
        tick = self.tick_source()
        if 0 <= tick < self.last_pushed_tick:
            # the tick went back: a new session (a persona, avatar or model switch, an engine
            # restart) counts from 0 again, and this one has pushed nothing yet
            self.last_pushed_tick = -1
        if tick < 0 or tick <= self.last_pushed_tick:
            return
        rgb = qimage_to_rgb(image)
        try:
            self.sink(tick, rgb)
        except Exception as e:  # engine restarting: drop the frame
            log.debug("camera frame dropped: %s", e)
            return
        self.last_pushed_tick = tick
        self.frames_pushed += 1

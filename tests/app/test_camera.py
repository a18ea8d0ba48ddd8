"""Camera path without a camera: a video file played into a QVideoSink feeds CameraCapture."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import av
import numpy as np
import pytest
from PySide6.QtCore import QUrl
from PySide6.QtGui import QColor, QImage
from PySide6.QtMultimedia import QMediaPlayer, QVideoSink

from app.camera import CameraCapture, format_score, qimage_to_rgb

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication
    from pytestqt.qtbot import QtBot

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("qt_clean")]


def make_video(path: Path, w: int = 1280, h: int = 720, seconds: float = 2.0) -> Path:
    src = av.open(f"testsrc2=size={w}x{h}:rate=25", format="lavfi")
    out = av.open(str(path), "w")
    stream = out.add_stream("libx264", rate=25)
    stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
    for i, frame in enumerate(src.decode(video=0)):
        if i >= seconds * 25:
            break
        for pkt in stream.encode(frame):
            out.mux(pkt)
    for pkt in stream.encode():
        out.mux(pkt)
    out.close()
    src.close()
    return path


def test_qimage_to_rgb_scales_to_fit_and_keeps_colours(qapp: QApplication) -> None:
    img = QImage(1280, 720, QImage.Format.Format_ARGB32)
    img.fill(QColor(10, 200, 30))
    rgb = qimage_to_rgb(img)
    assert rgb.shape == (360, 640, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[100, 100]) == (10, 200, 30)
    small = QImage(321, 241, QImage.Format.Format_RGB32)  # odd sizes: stride != 3 * width
    small.fill(QColor(1, 2, 3))
    out = qimage_to_rgb(small)
    assert out.shape == (241, 321, 3) and (out == (1, 2, 3)).all()


def test_file_frames_become_tick_stamped_rgb(qtbot: QtBot, tmp_path: Path) -> None:
    video = make_video(tmp_path / "cam.mp4")
    got: list[tuple[int, np.ndarray]] = []
    clock = {"tick": 0}

    def tick_source() -> int:
        clock["tick"] += 1  # every frame lands on a new tick
        return clock["tick"]

    cap = CameraCapture(lambda t, f: got.append((t, f)), tick_source)
    previews: list[QImage] = []
    cap.image_ready.connect(previews.append)
    player = QMediaPlayer()
    sink = QVideoSink()
    player.setVideoSink(sink)
    sink.videoFrameChanged.connect(cap.handle_frame)
    player.setSource(QUrl.fromLocalFile(str(video)))
    player.play()
    try:
        qtbot.waitUntil(lambda: len(got) >= 10, timeout=15_000)
    finally:
        player.stop()
    ticks = [t for t, _ in got]
    assert ticks == sorted(set(ticks))  # strictly increasing, one frame per tick
    for _, f in got:
        assert f.dtype == np.uint8 and f.shape == (360, 640, 3)
    assert got[-1][1].std() > 10  # real picture content, not a blank
    assert previews and previews[-1].width() <= 192


def test_no_camera_is_reported_and_unplug_goes_audio_only(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtMultimedia import QMediaDevices

    monkeypatch.setattr(
        QMediaDevices, "videoInputs", staticmethod(list)
    )  # no camera, whatever the machine has
    messages: list[str] = []
    cap = CameraCapture(lambda t, f: None, lambda: 0)
    cap.message.connect(messages.append)
    assert CameraCapture.devices() == []
    assert cap.start("") is False
    assert "No camera found" in messages[-1]
    # a camera that was in use disappears: stop and say so
    from PySide6.QtMultimedia import QCamera

    cap._camera = QCamera()
    cap.device_id = "usb-cam-1"
    changed: list[bool] = []
    cap.devices_changed.connect(lambda: changed.append(True))
    cap._on_devices_changed()
    assert "unplugged" in messages[-1] and not cap.active and changed


def test_format_choice_prefers_vga_at_video_rate() -> None:
    """Among a webcam's typical formats: ~640x480 at >= 24 fps wins; slow or tiny modes lose."""
    formats = [
        (1920, 1080, 30.0),
        (1280, 720, 30.0),
        (640, 480, 30.0),
        (640, 480, 5.0),  # a slow mode of the right size
        (160, 120, 30.0),
        (800, 600, 15.0),
    ]
    ranked = sorted(formats, key=lambda f: format_score(*f))
    assert ranked[0] == (640, 480, 30.0)
    assert format_score(640, 480, 5.0) > format_score(1280, 720, 30.0)  # frame rate matters more
    assert format_score(160, 120, 30.0) > format_score(1280, 720, 30.0)

"""Saved audio devices are names; a name several devices share (Windows lists each device under
MME, DirectSound and WASAPI; two identical USB headsets) opens one device instead of failing with
sounddevice's "Multiple input devices found" on every try. sounddevice is faked here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import pytest
import sounddevice as sd

from app import audio_devices
from app.mic import MicCapture, TickAssembler, list_devices
from app.playback import AudioDeviceError, Player

if TYPE_CHECKING:
    from .conftest import DuetWindow

APIS = [{"name": "MME"}, {"name": "Windows DirectSound"}, {"name": "Windows WASAPI"}]


def dev(name: str, api: int, inputs: int = 0, outputs: int = 0) -> dict[str, Any]:
    return {"name": name, "hostapi": api, "max_input_channels": inputs, "max_output_channels": outputs}


DEVICES = [
    dev("Microsoft Sound Mapper - Input", 0, inputs=2),
    dev("Headset Microphone (USB Audio)", 0, inputs=1),
    dev("Speakers (USB Audio)", 0, outputs=2),
    dev("Headset Microphone (USB Audio)", 1, inputs=1),
    dev("Speakers (USB Audio)", 1, outputs=2),
    dev("Headset Microphone (USB Audio)", 2, inputs=1),
    dev("Speakers (USB Audio)", 2, outputs=2),
    dev("USB Headset", 2, inputs=1),  # two identical headsets
    dev("USB Headset", 2, inputs=1),
]


class FakeStream:
    opened: ClassVar[list[object]] = []

    def __init__(self, device: object = None, **_: object) -> None:
        if isinstance(device, str):  # as sounddevice: a name more than one device has is refused
            matches = [d for d in DEVICES if device in f"{d['name']}, {APIS[d['hostapi']]['name']}"]
            if len(matches) != 1:
                raise ValueError(f"Multiple input devices found for {device!r}")
        FakeStream.opened.append(device)
        self.active = True
        self.latency = 0.01

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def close(self) -> None: ...


@pytest.fixture
def fake_sd(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    monkeypatch.setattr(sd, "query_devices", lambda *a, **k: [dict(d) for d in DEVICES])
    monkeypatch.setattr(sd, "query_hostapis", lambda *a, **k: tuple(APIS))
    monkeypatch.setattr(audio_devices, "_default_hostapi", lambda _sd: 0)  # MME, as on Windows
    monkeypatch.setattr(sd, "InputStream", FakeStream)
    monkeypatch.setattr(sd, "OutputStream", FakeStream)
    FakeStream.opened = []
    return FakeStream.opened


def test_the_picker_names_each_device_once_and_each_name_opens_its_device(fake_sd: list[object]) -> None:
    names = list_devices("input")
    assert names == [
        "Microsoft Sound Mapper - Input",
        "Headset Microphone (USB Audio), MME",
        "Headset Microphone (USB Audio), Windows DirectSound",
        "Headset Microphone (USB Audio), Windows WASAPI",
        "USB Headset, Windows WASAPI #1",
        "USB Headset, Windows WASAPI #2",
    ]
    assert [audio_devices.resolve_device(n, "input") for n in names] == [0, 1, 3, 5, 7, 8]
    assert list_devices("output")[0] == "Speakers (USB Audio), MME"


def test_a_bare_name_saved_before_opens_the_default_host_api_s_device(fake_sd: list[object]) -> None:
    mic = MicCapture(TickAssembler(lambda tick, pcm: None), "Headset Microphone (USB Audio)")
    mic.start()  # the old code gave sounddevice the name: "Multiple input devices found", forever
    player = Player(device="Speakers (USB Audio)")
    player.start()
    assert fake_sd == [1, 2]  # MME's, the default host API
    mic.stop()
    player.stop()


def test_twins_without_the_default_api_open_the_first(fake_sd: list[object]) -> None:
    assert audio_devices.resolve_device("USB Headset", "input") == 7
    assert audio_devices.resolve_device("", "input") is None
    assert audio_devices.resolve_device(None, "output") is None
    assert audio_devices.resolve_device("Unplugged thing", "input") == "Unplugged thing"


def test_no_sound_server_is_said_in_plain_words(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class NoServer:
        def __init__(self, **_: object) -> None:
            raise sd.PortAudioError("Error querying device -1")

    monkeypatch.setattr(sd, "InputStream", NoServer)
    mic = MicCapture(TickAssembler(lambda tick, pcm: None))
    with pytest.raises(AudioDeviceError) as info:
        mic.start()
    text = str(info.value)
    assert text.startswith("cannot open the microphone (default): no audio device found")
    assert "-1" not in text and "sound server" in text
    assert "Error querying device -1" in caplog.text  # PortAudio's own words: in the log


@pytest.mark.gui
def test_a_bare_name_saved_before_shows_as_the_device_it_opens_and_is_saved_so(
    fake_sd: list[object], duet_window: DuetWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The picker lists "NAME, MME" etc., not the bare NAME an older Duet saved: the saved name
    selects the device it opens (not "NAME (missing)") and is saved as that label from now on."""
    monkeypatch.setattr(MicCapture, "start", lambda self: None)
    monkeypatch.setattr(Player, "start", lambda self: None)
    w = duet_window(
        start=False, mic_device="Headset Microphone (USB Audio)", speaker_device="Speakers (USB Audio)"
    )
    assert w.mic_combo.currentText() == "Headset Microphone (USB Audio), MME"
    assert w.speaker_combo.currentText() == "Speakers (USB Audio), MME"
    assert all(
        "(missing)" not in c.itemText(i) for c in (w.mic_combo, w.speaker_combo) for i in range(c.count())
    )
    assert w.settings.mic_device == "Headset Microphone (USB Audio), MME"
    assert w.settings.speaker_device == "Speakers (USB Audio), MME"
    assert audio_devices.resolve_device(w.settings.mic_device, "input") == 1  # the same device as before
    w2 = duet_window(start=False, mic_device="Unplugged thing")  # a name no device has: still said
    assert w2.mic_combo.currentText() == "Unplugged thing (missing)"
    assert w2.settings.mic_device == "Unplugged thing"

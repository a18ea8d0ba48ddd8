"""Saved audio devices are names; a name several devices share (Windows lists each device under
MME, DirectSound and WASAPI; two identical USB headsets) opens one device instead of failing with
sounddevice's "Multiple input devices found" on every try. sounddevice is faked here."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, ClassVar

import pytest
import sounddevice as sd

from app import audio_devices
from app.mic import MicCapture, TickAssembler, list_devices
from app.playback import AudioDeviceError, Player

if TYPE_CHECKING:
    from .conftest import DuetWindow

APIS = [
    {"name": "MME"},
    {"name": "Windows DirectSound"},
    {"name": "Windows WASAPI"},
    {"name": "Windows WDM-KS"},
]


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
    dev("Headset Microphone (USB Audio)", 3, inputs=1),  # WDM-KS: never listed nor opened by name
]


class FakeStream:
    opened: ClassVar[list[object]] = []
    extra: ClassVar[list[object]] = []  # each stream's extra_settings (None: none given)

    def __init__(self, device: object = None, extra_settings: object = None, **_: object) -> None:
        if isinstance(device, str):  # as sounddevice: a name more than one device has is refused
            matches = [d for d in DEVICES if device in f"{d['name']}, {APIS[d['hostapi']]['name']}"]
            if len(matches) != 1:
                raise ValueError(f"Multiple input devices found for {device!r}")
        FakeStream.opened.append(device)
        FakeStream.extra.append(extra_settings)
        self.active = True
        self.latency = 0.01

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def close(self) -> None: ...


@pytest.fixture
def fake_sd(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    def query_devices(device: int | None = None, kind: str | None = None) -> object:
        if device is not None:
            return dict(DEVICES[device])
        return dict(DEVICES[0 if kind == "input" else 2]) if kind else [dict(d) for d in DEVICES]

    monkeypatch.setattr(sd, "query_devices", query_devices)
    monkeypatch.setattr(
        sd, "query_hostapis", lambda index=None: APIS[index] if index is not None else tuple(APIS)
    )
    monkeypatch.setattr(audio_devices, "_default_hostapi", lambda _sd: 0)  # MME, as on Windows
    monkeypatch.setattr(sd, "InputStream", FakeStream)
    monkeypatch.setattr(sd, "OutputStream", FakeStream)
    FakeStream.opened, FakeStream.extra = [], []
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


@pytest.mark.parametrize("platform", ["linux", "win32", "darwin"])
def test_no_sound_server_is_said_in_plain_words(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, platform: str
) -> None:
    class NoServer:
        def __init__(self, **_: object) -> None:
            raise sd.PortAudioError("Error querying device -1")

    monkeypatch.setattr(sd, "InputStream", NoServer)
    monkeypatch.setattr(sys, "platform", platform)
    mic = MicCapture(TickAssembler(lambda tick, pcm: None))
    with pytest.raises(AudioDeviceError) as info:
        mic.start()
    text = str(info.value)
    assert text.startswith("cannot open the microphone (default): no audio device found")
    assert "-1" not in text
    if platform == "linux":
        assert "(is a sound server such as PipeWire or PulseAudio running?)" in text
    else:  # no sound server to start on Windows or macOS
        assert "sound server" not in text and "enabled in the system's sound settings?)" in text
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


def test_wasapi_devices_open_with_resampling_and_wdm_ks_is_left_out(
    fake_sd: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """WASAPI's shared mode refuses 16 kHz / 24 kHz unless asked to convert (auto_convert); the
    other host APIs are opened as before; WDM-KS (rarely opens resampled) is not offered."""
    assert not any("WDM-KS" in n for n in list_devices("input"))
    assert audio_devices.resolve_device("Headset Microphone (USB Audio)", "input") == 1  # not the WDM-KS one
    for name in ("Headset Microphone (USB Audio), Windows WASAPI", "Headset Microphone (USB Audio), MME"):
        mic = MicCapture(TickAssembler(lambda tick, pcm: None), name)
        mic.start()
        mic.stop()
    player = Player(device="Speakers (USB Audio), Windows WASAPI")
    player.start()
    player.stop()
    assert fake_sd == [5, 1, 6]
    wasapi_in, mme, wasapi_out = FakeStream.extra
    for extra in (wasapi_in, wasapi_out):
        assert isinstance(extra, sd.WasapiSettings)
        assert extra._streaminfo.flags & sd._lib.paWinWasapiAutoConvert
    assert mme is None
    # the system default under WASAPI: converted too
    default = dict(DEVICES[5])
    monkeypatch.setattr(sd, "query_devices", lambda device=None, kind=None: default)
    mic = MicCapture(TickAssembler(lambda tick, pcm: None))
    mic.start()
    mic.stop()
    assert fake_sd[-1] is None and isinstance(FakeStream.extra[-1], sd.WasapiSettings)

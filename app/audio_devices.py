"""Audio devices by name: the picker's names, a saved name resolved to one PortAudio device index,
and PortAudio's errors in plain words.

Settings keep a device by name (an index changes when something is plugged in). sounddevice
refuses a name that matches several devices ("Multiple output devices found"): on Windows every
device is listed under MME, DirectSound and WASAPI, and two identical USB headsets share a name
anywhere. So the picker lists a name alone where it is unique, "NAME, HOSTAPI" where the host API
tells the devices apart and "NAME, HOSTAPI #N" for identical ones; resolve_device turns any of
these, and a bare name saved by an older Duet, into one index (a bare name: the device under the
default host API, else the first).

Windows' WDM-KS devices are left out (they rarely open at Duet's rates), and a WASAPI device is
opened with WASAPI's own resampling (auto_convert): in shared mode it refuses any rate but the
device's mix rate, and Duet records at 16 kHz and plays at 24 kHz (stream_options).
"""

from __future__ import annotations

import logging
import re
import sys
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

_NTH = re.compile(r"^(.*) #(\d+)$")
LEFT_OUT_APIS = frozenset({"Windows WDM-KS"})  # not listed, never opened for a name
WASAPI = "Windows WASAPI"


@dataclass(frozen=True)
class Device:
    index: int
    name: str
    hostapi: str
    default_api: bool  # under the default host API


def _default_hostapi(sd: Any) -> int:
    try:
        return int(sd.default.hostapi)
    except Exception:
        return -1


def devices(kind: str) -> list[Device]:
    """Devices with input ("input") or output ("output") channels, in PortAudio's order."""
    import sounddevice as sd

    try:
        found = list(sd.query_devices())
        apis = [str(a.get("name", "")) for a in sd.query_hostapis()]
    except Exception:
        return []
    default = _default_hostapi(sd)
    key = "max_input_channels" if kind == "input" else "max_output_channels"
    out = []
    for i, d in enumerate(found):
        if d.get(key, 0) > 0:
            api = int(d.get("hostapi", -1))
            index = int(d.get("index", i))
            api_name = apis[api] if 0 <= api < len(apis) else ""
            if api_name not in LEFT_OUT_APIS:
                out.append(Device(index, str(d["name"]), api_name, api == default))
    return out


def labels(found: list[Device]) -> dict[int, str]:
    """The picker's name of each device (by index): unique, and resolvable by resolve_device."""
    out: dict[int, str] = {}
    for dev in found:
        same = [d for d in found if d.name == dev.name]
        if len(same) == 1:
            out[dev.index] = dev.name
            continue
        label = f"{dev.name}, {dev.hostapi}"
        twins = [d for d in same if d.hostapi == dev.hostapi]
        out[dev.index] = label if len(twins) == 1 else f"{label} #{twins.index(dev) + 1}"
    return out


def list_names(kind: str) -> list[str]:
    return list(labels(devices(kind)).values())


def label_of(device: str, kind: str) -> str | None:
    """The picker's name of the device a saved name opens (resolve_device), e.g. the
    "NAME, MME" a bare "NAME" saved by an older Duet opens; None when it opens none listed."""
    index = resolve_device(device, kind)
    if not isinstance(index, int):
        return None
    return labels(devices(kind)).get(index)


def resolve_device(device: str | int | None, kind: str) -> str | int | None:
    """What to give sounddevice for a saved `device`: None (the default) for ""/None, an index as
    is, the index of the one device a name means (see the module docstring); a name no device has
    is given as it is (sounddevice says it is not found)."""
    if device in ("", None) or isinstance(device, int):
        return None if device == "" else device
    assert isinstance(device, str)
    found = devices(kind)
    named = labels(found)
    for dev in found:  # a picker label: "NAME", "NAME, HOSTAPI" or "NAME, HOSTAPI #N"
        if named[dev.index] == device:
            return dev.index
    same = [d for d in found if d.name == device]
    if not same:  # "NAME, HOSTAPI" of a name unique now, or "... #N" of twins gone
        m = _NTH.match(device)
        base = m.group(1) if m else device
        same = [d for d in found if f"{d.name}, {d.hostapi}" == base]
        if m and len(same) >= int(m.group(2)) >= 1:
            return same[int(m.group(2)) - 1].index
    if not same:
        return device
    pick = next((d for d in same if d.default_api), same[0])
    if len(same) > 1:
        log.info(
            "audio device %r matches %d devices: using %s (index %d)",
            device,
            len(same),
            pick.hostapi,
            pick.index,
        )
    return pick.index


def stream_options(device: str | int | None, kind: str) -> dict[str, Any]:
    """sounddevice's stream arguments for a saved `device`: `device` (resolve_device) and, for a
    WASAPI device (the default one too), `extra_settings` that let WASAPI resample: its shared mode
    refuses any rate but the device's mix rate (usually 48 kHz), Duet opens 16 / 24 kHz."""
    import sounddevice as sd

    resolved = resolve_device(device, kind)
    out: dict[str, Any] = {"device": resolved}
    if _hostapi_name(sd, resolved, kind) == WASAPI:
        out["extra_settings"] = sd.WasapiSettings(auto_convert=True)
    return out


def _hostapi_name(sd: Any, device: str | int | None, kind: str) -> str:
    """The host API of a device index, or of the default device (None); "" when not known."""
    try:
        if isinstance(device, int):
            info = sd.query_devices(device)
        elif device is None:
            info = sd.query_devices(kind=kind)
        else:
            return ""
        return str(sd.query_hostapis(int(info["hostapi"]))["name"])
    except Exception:
        return ""


def device_problem(what: str, device: str | int | None, e: BaseException) -> str:
    """`cannot open the WHAT (DEVICE): WHY`, PortAudio's jargon in plain words where it has any."""
    raw = str(e)
    if "Error querying device -1" in raw:
        why = "no audio device found (" + (
            "is a sound server such as PipeWire or PulseAudio running?)"
            if sys.platform.startswith("linux")
            else "is one plugged in, and enabled in the system's sound settings?)"
        )
    elif "Multiple" in raw and "devices found" in raw:
        why = f"several devices have this name ({raw.splitlines()[0]})"
    elif "No input device matching" in raw or "No output device matching" in raw:
        why = "no such device now (unplugged?)"
    else:
        return f"cannot open the {what} ({device or 'default'}): {raw}"
    log.warning("cannot open the %s (%s): %s", what, device or "default", raw)
    return f"cannot open the {what} ({device or 'default'}): {why}"

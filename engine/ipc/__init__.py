"""Shared-memory rings (media) and the message channel (control/events). No torch, no Qt."""

from .channel import ENGINE_EVENT_TYPES, Channel, ChannelClosed, ChannelTimeout, decode_or_error
from .doorbell import Doorbell
from .media import AudioRing, AudioSpec, FlushFilter, FrameRing, FrameSpec
from .ring import SlotRing
from .rings import CAMERA_MAX_H, CAMERA_MAX_W, DEFAULT_MAX_FRAME_SIZE, MediaRings, RingNames

__all__ = [
    "CAMERA_MAX_H",
    "CAMERA_MAX_W",
    "DEFAULT_MAX_FRAME_SIZE",
    "ENGINE_EVENT_TYPES",
    "AudioRing",
    "AudioSpec",
    "Channel",
    "ChannelClosed",
    "ChannelTimeout",
    "Doorbell",
    "FlushFilter",
    "FrameRing",
    "FrameSpec",
    "MediaRings",
    "RingNames",
    "SlotRing",
    "decode_or_error",
]

"""The streamer's typed config: it travels with the weights as config.json (engine.hub)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from engine.ipc.rings import DEFAULT_MAX_FRAME_SIZE
from engine.protocol import AVATAR_SAMPLES_PER_TICK, MIC_SAMPLES_PER_TICK


@dataclass(frozen=True)
class StreamerConfig:
    model_type: str = "streamer"
    unit_ticks: int = 4  # ticks (40 ms) per unit: 4 = 160 ms
    # transformer
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    ffn_mult: int = 4
    window_units: int = 8  # attention window in units (ring KV cache size), current unit included
    rope_theta: float = 10_000.0
    # sink: persona prompt bytes + identity frame patches, always attended, no position
    sink_text_tokens: int = 16
    # user input per unit
    text_in_slots: int = 4  # typed user text bytes per unit (overflow waits for later units)
    audio_subframes: int = 4  # each 640-sample tick is cut into this many frames for the encoder
    audio_enc_dim: int = 32
    audio_kernel: int = 3  # causal conv kernel (frames) of the audio encoder and decoder
    video_in_size: int = 32  # camera frame resized to this square size
    video_patch: int = 8  # -> (video_in_size / video_patch)^2 patch tokens per unit
    # avatar output per unit
    text_out_slots: int = 4  # avatar text bytes per unit
    audio_out_tokens: int = 2  # avatar audio tokens per tick (each 960 / n samples of 24 kHz)
    audio_dec_dim: int = 32
    video_dec_dim: int = 32
    video_out_size: int = 32  # avatar frames are video_out_size^2 RGB
    video_out_grid: int = 2  # avatar video tokens per tick: grid^2, each a (size/grid)^2 patch
    video_fb_patch: int = 4  # feedback: the previous avatar frame pooled to grid*fb_patch square

    def __post_init__(self) -> None:
        checks = [
            (self.model_type == "streamer", f"model_type must be 'streamer', got {self.model_type!r}"),
            (self.unit_ticks >= 1, "unit_ticks must be >= 1"),
            (self.d_model >= 8 and self.n_heads >= 1, "d_model >= 8 and n_heads >= 1"),
            (self.d_model % max(self.n_heads, 1) == 0, "d_model must be divisible by n_heads"),
            (
                (self.d_model // max(self.n_heads, 1)) % 2 == 0,
                "head dim (d_model / n_heads) must be even for RoPE",
            ),
            (self.n_layers >= 1 and self.ffn_mult >= 1, "n_layers and ffn_mult must be >= 1"),
            (self.window_units >= 1, "window_units must be >= 1"),
            (self.sink_text_tokens >= 0, "sink_text_tokens must be >= 0"),
            (self.text_in_slots >= 0, "text_in_slots must be >= 0"),
            # the text loss averages over these slots: none would make every loss nan
            (self.text_out_slots >= 1, "text_out_slots must be >= 1"),
            (
                min(self.audio_enc_dim, self.audio_dec_dim, self.video_dec_dim) >= 1,
                "audio_enc_dim, audio_dec_dim and video_dec_dim must be >= 1",
            ),
            (self.video_in_size >= 1, "video_in_size must be >= 1"),
            # the engine's avatar frame ring holds frames up to this size: larger ones could train
            # but never run (`run` refuses such a model)
            (
                1 <= self.video_out_size <= DEFAULT_MAX_FRAME_SIZE,
                f"video_out_size must be 1..{DEFAULT_MAX_FRAME_SIZE} (the largest avatar frame the"
                f" engine can show), got {self.video_out_size}",
            ),
            (MIC_SAMPLES_PER_TICK % max(self.audio_subframes, 1) == 0, "640 % audio_subframes != 0"),
            (self.audio_subframes >= 1 and self.audio_kernel >= 1, "audio_subframes, audio_kernel >= 1"),
            (AVATAR_SAMPLES_PER_TICK % max(self.audio_out_tokens, 1) == 0, "960 % audio_out_tokens != 0"),
            (self.audio_out_tokens >= 1, "audio_out_tokens must be >= 1"),
            (
                self.video_patch >= 1 and self.video_in_size % self.video_patch == 0,
                "video_patch must divide video_in_size",
            ),
            (
                self.video_out_grid >= 1 and self.video_out_size % self.video_out_grid == 0,
                "grid must divide size",
            ),
            (self.video_fb_patch >= 1, "video_fb_patch must be >= 1"),
            (self.rope_theta > 1.0, "rope_theta must be > 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    # ---- derived sizes
    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def video_in_tokens(self) -> int:
        return (self.video_in_size // self.video_patch) ** 2

    @property
    def video_out_tokens(self) -> int:  # per tick
        return self.video_out_grid**2

    @property
    def sink_len(self) -> int:
        return self.sink_text_tokens + self.video_in_tokens

    @property
    def segments(self) -> dict[str, int]:
        """Token groups of one unit, in sequence order -> length."""
        return {
            "video_in": self.video_in_tokens,
            "audio_in": self.unit_ticks,
            "text_in": self.text_in_slots,
            "decision": 1,
            "text_out": self.text_out_slots,
            "audio_out": self.unit_ticks * self.audio_out_tokens,
            "video_out": self.unit_ticks * self.video_out_tokens,
        }

    @property
    def unit_len(self) -> int:
        return sum(self.segments.values())

    def offsets(self) -> dict[str, tuple[int, int]]:
        out, start = {}, 0
        for name, n in self.segments.items():
            out[name] = (start, start + n)
            start += n
        return out

    @property
    def mic_per_unit(self) -> int:
        return MIC_SAMPLES_PER_TICK * self.unit_ticks

    @property
    def pcm_per_unit(self) -> int:
        return AVATAR_SAMPLES_PER_TICK * self.unit_ticks

    def replace(self, **changes: object) -> StreamerConfig:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


# Presets: S trains on a CPU in minutes; L is ~1B parameters at 256x256 output (GPU, bf16).
PRESETS: dict[str, StreamerConfig] = {
    "S": StreamerConfig(),
    "M": StreamerConfig(
        d_model=384,
        n_layers=6,
        n_heads=6,
        window_units=32,
        sink_text_tokens=64,
        text_in_slots=8,
        text_out_slots=8,
        audio_enc_dim=128,
        audio_dec_dim=128,
        video_dec_dim=128,
        audio_out_tokens=4,
        video_in_size=64,
        video_patch=16,
        video_out_size=128,
        video_out_grid=4,
    ),
    "L": StreamerConfig(
        d_model=2048,
        n_layers=20,
        n_heads=16,
        window_units=32,
        sink_text_tokens=128,
        text_in_slots=8,
        text_out_slots=8,
        audio_enc_dim=256,
        audio_dec_dim=512,
        video_dec_dim=512,
        audio_out_tokens=4,
        video_in_size=128,
        video_patch=16,
        video_out_size=256,
        video_out_grid=4,
    ),
}


def preset(name: str) -> StreamerConfig:
    try:
        return PRESETS[name.upper()]
    except KeyError:
        raise ValueError(f"unknown streamer size {name!r}; choose one of {sorted(PRESETS)}") from None

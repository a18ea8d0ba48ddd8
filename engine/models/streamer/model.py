"""StreamerModel: the engine contract (engine/models/base.py) around StreamerCore.

Weights come from `--weights PATH_OR_REPO` through engine.hub (config.json + model.safetensors).
No public weights exist: without weights the model refuses to start unless the options say
`allow_untrained` (then it runs random-initialised and reports trained=False, which the app shows).
"""

from __future__ import annotations

import math
import os
import time

import numpy as np
import torch

from engine import hub
from engine.models.lite.persona import avatar_of
from engine.protocol import (
    Decision,
    DecisionChanged,
    FlushOut,
    SessionSpec,
    StateChanged,
    Transcript,
    UnitIn,
    UnitOut,
)
from engine.registry import ModelOptions

from . import tokenizer
from .config import StreamerConfig, preset
from .core import StreamerCore, StreamState
from .graph import GraphedStep
from .heads import DECISION_INDEX, DECISIONS
from .inputs import UnitBatch, as_float, frames_to_tensor, frames_u8, sink_inputs, tensor_to_frames

_STATE_OF = {Decision.LISTEN: "listening", Decision.SPEAK: "speaking", Decision.YIELD: "listening"}


class StreamerWeightsError(RuntimeError):
    """The streamer was started without usable weights."""


NO_WEIGHTS_HELP = (
    "the streamer model needs trained weights, and none are published. Train a checkpoint on "
    "recorded sessions with `duet-engine train --sessions DIR --out MODEL_DIR` (tiny config: minutes "
    "on a CPU), then start with `--model streamer --weights MODEL_DIR` (a folder or a hub repo id "
    "holding config.json + model.safetensors; pin --revision for a repo). To try the architecture "
    "with random weights, pass --model-option allow_untrained=1 (it is then labelled untrained)."
)


def _flag(extra: dict[str, str], key: str) -> bool:
    """An on/off model option: 1/true/yes/on or 0/false/no/off/absent (else a ValueError naming it)."""
    value = extra.get(key, "")
    word = value.strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("", "0", "false", "no", "off"):
        return False
    raise ValueError(f"model option {key}={value} is not on/off (use 1 or 0)")


def pick_device(name: str) -> torch.device:
    name = (name or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise ValueError(f"unknown device {name!r} (use auto, cpu, cuda, cuda:N or mps)") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available (use --device cpu)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {name!r} requested but MPS is not available (use --device cpu)")
    return device


def _whole(option: str, raw: str) -> int:
    """A model option that is a whole number (ValueError naming the option otherwise)."""
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value != int(value):
        raise ValueError(f"model option {option}={raw} is not a whole number")
    return int(value)


def cpu_threads(requested: str | None = None) -> int:
    """A sensible torch thread count: half the cores (the GUI, rings and recorder need the rest)."""
    if requested and requested.strip():
        return max(1, _whole("threads", requested))
    return max(1, min(8, (os.cpu_count() or 2) // 2))


class StreamerModel:
    """Engine-facing streamer. Options.extra: allow_untrained, size (S|M|L, untrained only),
    dtype (float32|bfloat16|float16), threads (CPU), seed (untrained init), cuda_graph (1: replay
    the step as a CUDA graph on a GPU)."""

    output_lag_units = 1  # output for input unit u covers the ticks of unit u + 1

    # feedback for the next unit (set by _reset_feedback): the last decision and what was output
    _decision: Decision
    _prev_decision: torch.Tensor  # (1, 1) long: index into DECISIONS
    _prev_text: torch.Tensor  # (1, 1, text_out_slots) long: token ids (PAD unless speaking)
    _prev_pcm: torch.Tensor  # (1, 1, pcm_per_unit) float32: 24 kHz, silence unless speaking
    _prev_frame: torch.Tensor  # (1, 1, 3, S, S) float32: the last output frame

    def __init__(self, options: ModelOptions | None = None) -> None:
        options = options or ModelOptions()
        extra = dict(options.extra)
        self.device = pick_device(options.device)
        if self.device.type == "cpu":
            torch.set_num_threads(cpu_threads(extra.get("threads")))
        if options.weights:
            folder = hub.resolve(options.weights, options.revision or None)
            self.config = hub.load_config(folder, StreamerConfig)
            config = self.config  # checked against the weights before anything is allocated
            hub.check_before_build(folder, config, lambda: StreamerCore(config))
            self.core = StreamerCore(self.config)
            meta = hub.load_weights(self.core, folder, config=self.config)
            self.trained = str(meta.get("duet_trained", "")).strip().lower() in ("1", "true", "yes")
            self.source = str(folder)
        elif _flag(extra, "allow_untrained"):
            torch.manual_seed(_whole("seed", (extra.get("seed") or "").strip() or "0"))
            self.config = preset((extra.get("size") or "").strip() or "S")
            self.core = StreamerCore(self.config)
            self.trained = False
            self.source = "random init (untrained)"
        else:
            raise StreamerWeightsError(NO_WEIGHTS_HELP)
        default = "bfloat16" if self.device.type == "cuda" else "float32"
        dtype_name = (extra.get("dtype") or "").strip().lower() or default
        dtype = getattr(torch, dtype_name, None)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise ValueError(
                f"dtype {dtype_name!r} is not a torch floating dtype (float32, bfloat16, float16)"
            )
        self.dtype = dtype
        self.core.to(device=self.device, dtype=dtype).eval()
        self.unit_ticks = self.config.unit_ticks
        self.frame_size = self.config.video_out_size
        self._state: StreamState | None = None
        # opt-in: replay the step as a CUDA graph (fixed shapes, state updated in place)
        self._use_graph = _flag(extra, "cuda_graph") and self.device.type == "cuda"
        self._graph: GraphedStep | None = None
        self._texts = tokenizer.TextQueue()
        self._reset_feedback()

    # ------------------------------------------------------------ contract
    def open(self, session: SessionSpec) -> None:
        avatar = avatar_of(session.persona, session.avatar)  # "" = the persona's own, as in lite
        text, frame = sink_inputs(self.config, session.persona, avatar)
        self._state = self.core.start(text.to(self.device), frame.to(self.device, self.dtype))
        self._graph = None
        self._texts.clear()
        self._reset_feedback()

    def step(self, unit: UnitIn) -> UnitOut:
        if unit.n_ticks != self.unit_ticks:
            raise ValueError(f"streamer units are {self.unit_ticks} ticks, got a unit of {unit.n_ticks}")
        if self._state is None:
            self.open(SessionSpec())
        assert self._state is not None
        t0 = time.perf_counter()
        for text in unit.texts:
            self._texts.push(text)
        batch = self._batch(unit)
        t1 = time.perf_counter()
        if self._use_graph and self._graph is None:
            self._graph = GraphedStep(self.core, self._state, batch)
        out = self._graph.step(batch) if self._graph is not None else self.core.step(self._state, batch)
        decision_idx = int(out.decision_logits[0, 0].float().argmax())
        text_ids = out.text_logits[0, 0].float().argmax(-1).tolist()
        pcm = out.pcm[0, 0].float().cpu().numpy().astype(np.float32)
        frames = tensor_to_frames(out.frames[0, 0])  # (ticks, S, S, 3)
        t2 = time.perf_counter()
        out_tick = unit.tick + self.output_lag_units * self.unit_ticks
        decision = DECISIONS[decision_idx]
        text = tokenizer.decode(text_ids) if decision == Decision.SPEAK else ""
        events: list[object] = []
        if decision != self._decision:
            events.append(DecisionChanged(tick=out_tick, decision=decision))
            if decision == Decision.YIELD:
                events.append(FlushOut(from_tick=out_tick, reason="yield"))
            if _STATE_OF[decision] != _STATE_OF[self._decision]:
                events.append(StateChanged(tick=out_tick, state=_STATE_OF[decision]))
            self._decision = decision
        if text:
            events.append(Transcript(tick=out_tick, side="avatar", text=text, final=True))
        speaking = decision == Decision.SPEAK
        # feedback for the next unit: what was actually output (silence unless speaking)
        self._prev_decision.fill_(decision_idx)
        self._prev_text.copy_(torch.tensor(text_ids if speaking else [tokenizer.PAD] * len(text_ids)))
        if speaking:
            self._prev_pcm.copy_(torch.from_numpy(pcm))
        else:
            self._prev_pcm.zero_()
        self._prev_frame.copy_(frames_to_tensor(frames[-1:], self.frame_size)[0])
        t3 = time.perf_counter()
        return UnitOut(
            tick=out_tick,
            n_ticks=self.unit_ticks,
            pcm=pcm if speaking else None,
            frames=frames,
            decision=decision,
            text=text,
            events=tuple(events),
            timings={"prepare": (t1 - t0) * 1e3, "model": (t2 - t1) * 1e3, "post": (t3 - t2) * 1e3},
        )

    def flush(self, from_tick: int) -> None:
        """Nothing is queued past the unit just returned; what was cut is fed back as silence."""
        self._prev_pcm.zero_()
        self._prev_text.fill_(tokenizer.PAD)

    def user_text(self, text: str, operator: bool) -> None:
        self._texts.push(text, operator=operator)

    def close(self) -> None:
        self._state = None
        self._graph = None
        self._texts.clear()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    # ------------------------------------------------------------ helpers
    def _reset_feedback(self) -> None:
        cfg = self.config
        self._decision = Decision.LISTEN
        self._prev_decision = torch.full((1, 1), DECISION_INDEX[Decision.LISTEN], dtype=torch.long)
        self._prev_text = torch.full((1, 1, cfg.text_out_slots), tokenizer.PAD, dtype=torch.long)
        self._prev_pcm = torch.zeros(1, 1, cfg.pcm_per_unit)
        self._prev_frame = torch.zeros(1, 1, 3, cfg.video_out_size, cfg.video_out_size)

    def _batch(self, unit: UnitIn) -> UnitBatch:
        cfg = self.config
        size = cfg.video_in_size
        if unit.frames.shape[0] > 0:
            video = as_float(frames_u8(unit.frames, [unit.frames.shape[0] - 1], size))[None]  # as in training
            has_video = torch.ones(1, 1, dtype=torch.bool)
        else:
            video = torch.zeros(1, 1, 3, size, size)
            has_video = torch.zeros(1, 1, dtype=torch.bool)
        batch = UnitBatch(
            mic=torch.from_numpy(np.asarray(unit.mic, np.float32)).reshape(1, 1, -1),
            video=video,
            has_video=has_video,
            text_in=torch.tensor([[self._texts.take(cfg.text_in_slots)]], dtype=torch.long),
            prev_decision=self._prev_decision.clone(),
            prev_text=self._prev_text.clone(),
            prev_pcm=self._prev_pcm.clone(),
            prev_frame=self._prev_frame.clone(),
        )
        return batch.to(self.device, self.dtype)

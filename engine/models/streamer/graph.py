"""GraphedStep: the streaming step with static input/output buffers, replayed as a CUDA graph.

Every step has the same shapes and the state is updated in place (StreamerCore.step_body), so
one capture serves a whole session. On a CPU (or with capture=False) the same static-buffer
path runs eagerly, which is how the tests check it equals StreamerCore.step.
"""

from __future__ import annotations

from dataclasses import fields

import torch

from .core import CoreOutputs, StreamerCore, StreamState
from .inputs import UnitBatch


class GraphedStep:
    def __init__(
        self, core: StreamerCore, state: StreamState, example: UnitBatch, capture: bool = True
    ) -> None:
        if example.shape[1] != 1:
            raise ValueError("GraphedStep runs one unit at a time")
        self.core, self.state = core, state
        self.inputs = UnitBatch(**{f.name: getattr(example, f.name).clone() for f in fields(UnitBatch)})
        self.graph: torch.cuda.CUDAGraph | None = None
        self.outputs: CoreOutputs | None = None
        if capture and self.inputs.mic.is_cuda:
            self._capture()

    def _state_tensors(self) -> list[torch.Tensor]:
        s = self.state
        assert s.audio_enc is not None and s.audio_dec is not None and s.video_dec is not None
        caches = [t for c in s.caches for t in (c.k, c.v)]
        return [*caches, *s.audio_enc, *s.audio_dec, s.video_dec, s.mask, s.write_idx, s.pos]

    @torch.no_grad()
    def _capture(self) -> None:
        saved = [t.clone() for t in self._state_tensors()]  # warm-up runs mutate the state
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                self.core.step_body(self.state, self.inputs)
        torch.cuda.current_stream().wait_stream(side)
        for dst, src in zip(self._state_tensors(), saved):
            dst.copy_(src)
        graph = torch.cuda.CUDAGraph()
        # thread_local: another thread's CUDA calls (an app's) cannot break this capture
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            self.outputs = self.core.step_body(self.state, self.inputs)
        self.graph = graph

    @torch.no_grad()
    def step(self, unit: UnitBatch) -> CoreOutputs:
        """Copy the unit into the static inputs, advance the state's indices, run; outputs are
        fresh copies (the static output buffers are overwritten by the next step)."""
        for f in fields(UnitBatch):
            getattr(self.inputs, f.name).copy_(getattr(unit, f.name), non_blocking=True)
        self.core._advance(self.state)
        if self.graph is not None:
            self.graph.replay()
            out = self.outputs
            assert out is not None
        else:
            out = self.core.step_body(self.state, self.inputs)
        self.state.units += 1
        return CoreOutputs(*(getattr(out, f.name).clone() for f in fields(CoreOutputs)))

"""GraphedStep: the streaming step with static input/output buffers, replayed as a CUDA graph.

Every step has the same shapes and the state is updated in place (StreamerCore.step_body), so
one capture serves a whole session. On a CPU (or with capture=False) the same static-buffer
path runs eagerly, which is how the tests check it equals StreamerCore.step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
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

    @contextlib.contextmanager
    def _on_device(self) -> Iterator[None]:
        """Capture and replay on the inputs' GPU: torch.cuda.Stream() and graph() use the current
        device, and kernels launched on another device's stream would leave the graph empty."""
        if self.inputs.mic.is_cuda:
            with torch.cuda.device(self.inputs.mic.device):
                yield
        else:
            yield

    @torch.no_grad()
    def _capture(self) -> None:
        with self._on_device():
            self._capture_here()

    def _capture_here(self) -> None:
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
            with self._on_device():
                self.graph.replay()
            out = self.outputs
            assert out is not None
        else:
            out = self.core.step_body(self.state, self.inputs)
        self.state.units += 1
        return CoreOutputs(*(getattr(out, f.name).clone() for f in fields(CoreOutputs)))


# largest |graph - eager| / max|eager| per output that still counts as the same computation: a
# replay runs the eager step's own kernels, so anything above rounding means a broken capture
SAME_REL_DIFF = {torch.float32: 1e-4, torch.bfloat16: 2e-2, torch.float16: 5e-3}


@torch.no_grad()
def graph_vs_eager(
    core: StreamerCore, state: StreamState, batches: Sequence[UnitBatch], units: int
) -> dict[str, object]:
    """Step `units` units (cycling through `batches`) through a GraphedStep (captured on a GPU)
    and through the eager StreamerCore.step, each on its own copy of `state` (left as it was).
    Run past the ring's size, this shows that the graph replays the step, wrap included."""
    graphed = GraphedStep(core, state.clone(), batches[0])
    eager = state.clone()
    worst = {f.name: 0.0 for f in fields(CoreOutputs)}
    for i in range(units):
        batch = batches[i % len(batches)]
        got, want = graphed.step(batch), core.step(eager, batch)
        for f in fields(CoreOutputs):
            a, b = getattr(got, f.name).float(), getattr(want, f.name).float()
            scale = float(b.abs().max()) or 1.0
            worst[f.name] = max(worst[f.name], float((a - b).abs().max()) / scale)
    dtype = next(core.parameters()).dtype
    limit = SAME_REL_DIFF.get(dtype, 2e-2)
    return {
        "units": units,
        "captured": graphed.graph is not None,
        "max_rel_diff": {k: round(v, 6) for k, v in worst.items()},
        "matches": all(v <= limit for v in worst.values()),
    }

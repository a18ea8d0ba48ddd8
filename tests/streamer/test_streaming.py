"""Streaming == batch, causality, ring wrap with the sink kept, constant memory."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from engine.models.streamer import tokenizer
from engine.models.streamer.config import StreamerConfig
from engine.models.streamer.core import CoreOutputs, StreamerCore
from engine.models.streamer.inputs import UnitBatch, sink_inputs

from .units import FIELDS, random_units


def make(cfg: StreamerConfig, b: int = 2) -> tuple[StreamerCore, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    core = StreamerCore(cfg).eval()
    text, frame = sink_inputs(cfg, "guide", "ada")
    return core, text.repeat(b, 1), frame.repeat(b, 1, 1, 1)


def stream(core: StreamerCore, text: torch.Tensor, frame: torch.Tensor, units: UnitBatch) -> CoreOutputs:
    state = core.start(text, frame)
    outs = [core.step(state, units.select(i, i + 1)) for i in range(units.shape[1])]
    return CoreOutputs(*(torch.cat([getattr(o, f) for o in outs], dim=1) for f in FIELDS))


def assert_outputs_close(a: CoreOutputs, b: CoreOutputs) -> None:
    for f in FIELDS:
        torch.testing.assert_close(getattr(a, f), getattr(b, f), rtol=1e-4, atol=2e-5, msg=f)


@pytest.mark.parametrize(
    ("window", "n_units", "sink_text"),
    [(8, 5, 16), (3, 10, 16), (2, 7, 0), (1, 4, 8)],  # no wrap; wraps 3x; no persona text; window of 1
)
def test_streaming_equals_batch(window: int, n_units: int, sink_text: int) -> None:
    cfg = StreamerConfig(window_units=window, sink_text_tokens=sink_text)
    core, text, frame = make(cfg)
    units = random_units(cfg, 2, n_units, seed=window)
    with torch.no_grad():
        reference = core(text, frame, units, impl="mask")  # one pass with the block-causal mask
        windowed = core(text, frame, units, impl="window")
    streamed = stream(core, text, frame, units)
    assert_outputs_close(streamed, reference)
    assert_outputs_close(windowed, reference)


def test_sink_stays_visible_after_the_ring_wraps() -> None:
    """24 units through a ring of 2 units (wrapped 11 times): the persona/identity sink is never
    overwritten nor masked out, and still decides the output."""
    cfg = StreamerConfig(window_units=2)
    core, text, frame = make(cfg, b=1)
    units = random_units(cfg, 1, 24, seed=5)
    state = core.start(text, frame)
    sink = slice(0, cfg.sink_len)
    kept = [(c.k[:, :, sink].clone(), c.v[:, :, sink].clone()) for c in state.caches]
    assert cfg.sink_len > 0 and len(kept) == cfg.n_layers
    for i in range(units.shape[1]):
        core.step(state, units.select(i, i + 1))
    assert state.units == 24 > 2 * cfg.window_units
    for layer, (c, (k, v)) in enumerate(zip(state.caches, kept)):
        assert torch.equal(c.k[:, :, sink], k) and torch.equal(c.v[:, :, sink], v), f"layer {layer}"
    assert state.mask[sink].all()  # every sink slot is still attended to
    # and it still matters: another persona and avatar give another output, the one the
    # reference (one pass with the block-causal mask) gives for them
    other_text, other_frame = sink_inputs(cfg, "a completely different persona", "bob")
    a = stream(core, text, frame, units)
    b = stream(core, other_text, other_frame, units)
    assert not torch.allclose(a.decision_logits[:, -1], b.decision_logits[:, -1])
    with torch.no_grad():
        ref = core(other_text, other_frame, units, impl="mask")
    assert_outputs_close(b, ref)


def test_mask_is_block_causal() -> None:
    from engine.models.streamer.transformer import block_causal_mask

    m = block_causal_mask(n_sink=2, n_units=4, unit_len=3, window=2, device=torch.device("cpu"))
    assert m.shape == (14, 14)
    assert m[:2, :2].all() and not m[:2, 2:].any()  # sink sees only the sink
    assert m[2:, :2].all()  # everyone sees the sink
    unit: Callable[[int], slice] = lambda i: slice(2 + 3 * i, 5 + 3 * i)  # noqa: E731
    assert m[unit(1), unit(1)].all()  # full within a unit
    assert m[unit(1), unit(0)].all() and not m[unit(0), unit(1)].any()  # causal across units
    assert not m[unit(3), unit(1)].any()  # outside the window


@pytest.mark.parametrize("impl", ["mask", "window", "stream"])
def test_future_units_never_change_earlier_outputs(impl: str) -> None:
    cfg = StreamerConfig(window_units=3)
    core, text, frame = make(cfg, b=1)
    units = random_units(cfg, 1, 8, seed=1)
    changed = random_units(cfg, 1, 8, seed=2)
    k = 5  # units k.. differ in every input
    mixed = UnitBatch(
        **{
            f: torch.cat([getattr(units, f)[:, :k], getattr(changed, f)[:, k:]], 1)
            for f in units.__dataclass_fields__
        }
    )

    def run(x: UnitBatch) -> CoreOutputs:
        if impl == "stream":
            return stream(core, text, frame, x)
        with torch.no_grad():
            return core(text, frame, x, impl=impl)

    a, b = run(units), run(mixed)
    for f in FIELDS:
        torch.testing.assert_close(getattr(a, f)[:, :k], getattr(b, f)[:, :k], rtol=0, atol=0)
        assert not torch.allclose(getattr(a, f)[:, k:], getattr(b, f)[:, k:])


def test_memory_is_constant_over_many_units() -> None:
    cfg = StreamerConfig(window_units=2, d_model=32, n_layers=1, n_heads=2)
    core, text, frame = make(cfg, b=1)
    state = core.start(text, frame)
    unit = random_units(cfg, 1, 1, seed=0)
    ptrs = [(c.k.data_ptr(), c.k.shape, c.v.data_ptr(), c.v.shape) for c in state.caches]
    for _ in range(24):  # 12 wraps of the ring
        out = core.step(state, unit)
    assert [(c.k.data_ptr(), c.k.shape, c.v.data_ptr(), c.v.shape) for c in state.caches] == ptrs
    assert state.mask.all()  # every slot in use, none added
    assert state.audio_enc is not None and all(s.shape[-1] == cfg.audio_kernel - 1 for s in state.audio_enc)
    assert state.units == 24 and int(state.pos) == 23
    assert torch.isfinite(out.pcm).all() and out.frames.shape == (1, 1, 4, 3, 32, 32)


def test_step_shapes_and_ranges() -> None:
    cfg = StreamerConfig()
    core, text, frame = make(cfg, b=1)
    out = stream(core, text, frame, random_units(cfg, 1, 2, seed=3))
    assert out.decision_logits.shape == (1, 2, 3)
    assert out.text_logits.shape == (1, 2, cfg.text_out_slots, tokenizer.VOCAB_SIZE)
    assert out.pcm.shape == (1, 2, 4 * 960) and out.pcm.abs().max() <= 1.0
    assert out.frames.shape == (1, 2, 4, 3, 32, 32) and out.frames.min() >= 0 and out.frames.max() <= 1
    with pytest.raises(ValueError, match="one unit at a time"):
        core.step(core.start(text, frame), random_units(cfg, 1, 2, seed=3))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"d_model": 30, "n_heads": 4}, "divisible"),
        ({"video_patch": 5}, "video_patch"),
        ({"audio_out_tokens": 7}, "960"),
        ({"model_type": "llama"}, "model_type"),
        ({"window_units": 0}, "window_units"),
    ],
)
def test_config_rejects_bad_values(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StreamerConfig(**change)


def test_static_buffer_step_equals_step() -> None:
    """The CUDA-graph path (static inputs, in-place state) computes what core.step computes."""
    from engine.models.streamer.graph import GraphedStep

    cfg = StreamerConfig(window_units=2)
    core, text, frame = make(cfg, b=1)
    units = random_units(cfg, 1, 5, seed=9)
    expected = stream(core, text, frame, units)
    runner = GraphedStep(core, core.start(text, frame), units.select(0, 1), capture=True)
    assert runner.graph is None  # no CUDA here: eager, same buffers
    outs = [runner.step(units.select(i, i + 1)) for i in range(5)]
    got = CoreOutputs(*(torch.cat([getattr(o, f) for o in outs], dim=1) for f in FIELDS))
    assert_outputs_close(got, expected)


def test_bfloat16_step_runs_close_to_float32() -> None:
    cfg = StreamerConfig(window_units=2)
    core, text, frame = make(cfg, b=1)
    units = random_units(cfg, 1, 3, seed=4)
    ref = stream(core, text, frame, units)
    core16 = StreamerCore(cfg).eval()
    core16.load_state_dict(core.state_dict())
    core16.to(torch.bfloat16)
    state = core16.start(text, frame.to(torch.bfloat16))
    outs = [core16.step(state, units.select(i, i + 1).to("cpu", torch.bfloat16)) for i in range(3)]
    assert outs[0].pcm.dtype == torch.float32  # samples keep their precision in a bf16 model
    pcm = torch.cat([o.pcm for o in outs], 1).float()
    assert torch.isfinite(pcm).all()
    torch.testing.assert_close(pcm, ref.pcm, atol=0.1, rtol=0.1)


def test_step_body_is_one_static_graph() -> None:
    """What CUDA-graph capture needs, checked without a GPU: TorchDynamo traces the step body as
    ONE graph (fullgraph: no host sync such as .item(), no data-dependent shape, no Python branch
    on tensor values), compiled once and reused as the ring wraps, and it computes what the eager
    step computes."""
    cfg = StreamerConfig(window_units=2)
    core, text, frame = make(cfg, b=1)
    units = random_units(cfg, 1, 5, seed=3)
    expected = stream(core, text, frame, units)

    compiled: list[int] = []

    def count_backend(gm: torch.fx.GraphModule, example_inputs: list[torch.Tensor]) -> Callable[..., object]:
        compiled.append(len(gm.graph.nodes))
        return gm.forward

    torch.compiler.reset()
    body = torch.compile(core.step_body, fullgraph=True, backend=count_backend, dynamic=False)
    state = core.start(text, frame)
    outs = []
    with torch.no_grad():
        for i in range(5):  # window 2: the ring wraps twice
            core._advance(state)
            outs.append(body(state, units.select(i, i + 1)))
            state.units += 1
    torch.compiler.reset()
    assert len(compiled) == 1 and compiled[0] > 100  # one graph holding the whole step
    got = CoreOutputs(*(torch.cat([getattr(o, f) for o in outs], dim=1) for f in FIELDS))
    assert_outputs_close(got, expected)


def test_graph_check_tells_a_replay_of_the_step_from_a_broken_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """`bench streamer --cuda-graph` trusts its times only after graph_vs_eager says the graphed
    step computes what the eager one does, past a wrap of the ring; a step that replays stale
    outputs (what an empty capture does) is caught."""
    from engine.models.streamer.graph import GraphedStep, graph_vs_eager

    cfg = StreamerConfig(window_units=2)
    core, text, frame = make(cfg, b=1)
    state = core.start(text, frame)
    units = [random_units(cfg, 1, 1, seed=i) for i in range(3)]
    before = [t.clone() for t in (state.pos, state.mask, state.caches[0].k)]
    check = graph_vs_eager(core, state, units, cfg.window_units + 2)
    assert check["matches"] is True and check["units"] == cfg.window_units + 2
    assert not check["captured"]  # no GPU here: the static-buffer path runs eagerly
    assert all(torch.equal(a, b) for a, b in zip(before, (state.pos, state.mask, state.caches[0].k)))
    real_step = GraphedStep.step
    first: dict[str, object] = {}

    def stale(self: GraphedStep, unit: object) -> object:
        out = real_step(self, unit)  # type: ignore[arg-type]
        return first.setdefault("out", out)  # every later step "replays" the first outputs

    monkeypatch.setattr(GraphedStep, "step", stale)
    assert graph_vs_eager(core, state, units, cfg.window_units + 2)["matches"] is False


@pytest.mark.parametrize("impl", ["mask", "window"])
def test_only_relative_positions_matter(impl: str) -> None:
    """Hours into a session (unit 90 000 = 4 h) the model computes what it does at unit 0: the
    rotary code sees only how far apart two units are, so a long session drifts nowhere."""
    cfg = StreamerConfig(window_units=3)
    core, text, frame = make(cfg, b=1)
    units = random_units(cfg, 1, 5, seed=11)
    with torch.no_grad():
        sink = core.embed_sink(text, frame)
        x, _ = core.embed_units(units, None)
        at_start = core.transformer(sink, x, first_unit=0, impl=impl)
        hours_in = core.transformer(sink, x, first_unit=90_000, impl=impl)
    torch.testing.assert_close(hours_in, at_start, rtol=1e-4, atol=1e-4)

"""Model options are checked by value before any engine starts, the same way the model reads them."""

from __future__ import annotations

import pytest

from engine.registry import ModelOptions, check_options, ignored_with_weights, info


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("dtype", "bf16", "must be one of float32, bfloat16, float16"),
        ("size", "XL", "must be one of S, M, L"),
        ("threads", "0", "must be whole threads in 1..256"),
        ("threads", "two", "must be whole threads in 1..256"),
        ("seed", "-1", "must be whole numbers in 0..4294967295"),
        ("seed", "1.5", "must be whole numbers in 0..4294967295"),
        ("cuda_graph", "maybe", "is not on/off (use 1 or 0)"),
        ("allow_untrained", "2", "is not on/off (use 1 or 0)"),
    ],
)
def test_streamer_option_values_are_refused_before_it_loads(key: str, value: str, problem: str) -> None:
    with pytest.raises(ValueError) as e:
        check_options("streamer", {key: value})
    assert str(e.value) == f"model 'streamer' option {key}={value!r} {problem}"


def test_values_the_check_accepts_are_read_the_same_by_the_model() -> None:
    """What check_options lets through must build: case, spaces, '' (the default) and 2.0 for 2."""
    from engine.models.streamer.model import StreamerModel

    extra = {"allow_untrained": "Yes", "dtype": " Float32", "size": "s", "seed": "7", "threads": "1.0"}
    check_options("streamer", extra)
    model = StreamerModel(ModelOptions(device="cpu", extra=extra))
    assert model.config.video_out_size > 0 and str(model.dtype) == "torch.float32"
    assert not model.trained
    defaults = {"allow_untrained": "1", "dtype": " ", "size": "", "seed": " ", "threads": "  "}
    check_options("streamer", defaults)
    assert StreamerModel(ModelOptions(device="cpu", extra=defaults)).config == model.config  # S
    with pytest.raises(ValueError, match="cuda_graph=2 is not on/off"):
        StreamerModel(ModelOptions(device="cpu", extra={"allow_untrained": "1", "cuda_graph": "2"}))


def test_options_that_only_shape_an_untrained_model() -> None:
    assert ignored_with_weights("streamer", {"size": "M", "seed": "", "threads": "2"}) == ["size"]
    assert ignored_with_weights("streamer", {"seed": "1", "size": "L"}) == ["seed", "size"]
    assert ignored_with_weights("lite", {"frame_size": "256"}) == []


def test_an_unknown_model_names_the_extra_ones_too(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.registry import UnknownModelError

    monkeypatch.setenv("DUET_EXTRA_MODELS", "mine=mypkg.mymodel:Factory")
    with pytest.raises(UnknownModelError) as e:
        info("mien")  # a typo of one's own model
    assert str(e.value) == "unknown model 'mien'; available: lite, streamer, mine"  # not test models
    assert info("mine").target == "mypkg.mymodel:Factory"


def test_models_of_ones_own_are_listed_and_test_models_are_not(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.registry import available

    monkeypatch.setenv("DUET_EXTRA_MODELS", " mine=mypkg.mymodel:Factory , other=pkg.m:Make")
    monkeypatch.setenv("DUET_TEST_MODELS", "testecho=tests.support.models:EchoTestModel")
    listed = {i.name: i for i in available()}
    assert list(listed) == ["lite", "streamer", "mine", "other"]
    assert listed["mine"].description == "from DUET_EXTRA_MODELS: mypkg.mymodel:Factory"
    assert not listed["mine"].needs_weights and listed["mine"].options is None  # checked by the model
    assert [i.name for i in available(include_hidden=True)][-1] == "testecho"
    assert info("testecho").hidden  # still runs by name


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("mine", "DUET_EXTRA_MODELS entry 'mine' must look like name=module:Factory"),
        (
            "mine=mypkg.mymodel",
            "DUET_EXTRA_MODELS entry 'mine=mypkg.mymodel' must look like name=module:Factory",
        ),
        ("=mypkg:F", "DUET_EXTRA_MODELS entry '=mypkg:F' must look like name=module:Factory"),
        ("lite=mypkg:F", "DUET_EXTRA_MODELS entry 'lite=mypkg:F': 'lite' is a built-in model's name"),
    ],
)
def test_a_malformed_extra_model_is_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch, spec: str, problem: str
) -> None:
    from engine.registry import UnknownModelError, available

    monkeypatch.setenv("DUET_EXTRA_MODELS", spec)
    with pytest.raises(UnknownModelError) as e:
        available()
    assert str(e.value) == problem

"""The streamer through the real engine process: Ready says whether it is trained."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine import hub
from engine.client import EngineStartError
from engine.models.streamer.config import StreamerConfig
from engine.models.streamer.core import StreamerCore
from tests.support.engines import ClientFactory


@pytest.mark.parametrize("trained", [False, True])
def test_engine_reports_trained_flag(client_factory: ClientFactory, tmp_path: Path, trained: bool) -> None:
    if trained:
        torch.manual_seed(0)
        cfg = StreamerConfig()
        hub.save_pretrained(StreamerCore(cfg), cfg, tmp_path / "w", metadata={"duet_trained": "true"})
        client = client_factory("streamer", weights=str(tmp_path / "w"), log_path=tmp_path / "e.log")
    else:
        client = client_factory(
            "streamer", model_options={"allow_untrained": "1"}, log_path=tmp_path / "e.log"
        )
    ready = client.start(timeout_s=120)
    assert ready.model == "streamer" and ready.trained is trained
    assert ready.unit_ticks == 4 and ready.output_lag_units == 1 and ready.frame_size == 32


def test_engine_without_weights_fails_with_the_training_hint(
    client_factory: ClientFactory, tmp_path: Path
) -> None:
    client = client_factory("streamer", log_path=tmp_path / "e.log")
    with pytest.raises(EngineStartError, match="duet-engine train"):
        client.start(timeout_s=120)
    assert not client.alive

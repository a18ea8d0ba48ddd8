"""When a model fails to load in DuetCore: back to the model that ran before, or to the weights it
ran with before, or the start-up stand-in (the default model, not saved as the choice), or a banner
that says why and does not retry (it would fail the same way). Weights or options that failed to
load are given up for the ones the model had before (source_reverted; the settings follow).

ModelFailuresMixin is a mixin of DuetCore (core.py); everything runs on the GUI thread.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .engine_faults import load_error, summary
from .logs import engine_log_path
from .settings import ModelSource

if TYPE_CHECKING:
    from PySide6.QtCore import SignalInstance

    from .conversation import Conversation
    from .recording import RecordingController

log = logging.getLogger("app.core")  # (the log lines these always had)


class ModelFailuresMixin:
    # DuetCore's (core.py)
    model: str
    client: Any
    _live: Any
    good_model: str
    stand_in: str
    untried: dict[str, ModelSource]
    sources: dict[str, ModelSource]
    load_failures: dict[str, str]
    recording: RecordingController
    conversation: Conversation
    status: SignalInstance
    source_reverted: SignalInstance

    if TYPE_CHECKING:

        def notify(self, level: str, text: str) -> None: ...
        def source(self, model: str) -> ModelSource: ...
        def switch_model(self, model: str, force: bool = False, stand_in_for: str = "") -> None: ...

    def _load_error(self, err: BaseException) -> str:
        """Why the model did not load ("" if the engine failed otherwise): see load_error."""
        client = self.client
        try:
            events = client.poll_events() if client is not None else []
        except Exception:
            events = []
        return load_error(err, events, self.model)

    def _load_failed(self, message: str) -> None:
        self._live = None
        self.recording.session_closed()
        model, fallback = self.model, self.good_model
        log.warning("model %r failed to load: %s", model, message)
        self.load_failures[model] = message
        reverted = model in self.untried
        dropped = self._drop_untried(model)
        if fallback and fallback != model:
            self.notify("warn", f"Could not start {model}: {summary(message)}\nBack to {fallback}.{dropped}")
            self.switch_model(fallback)
            return
        if reverted and not self.source(model).is_empty():  # the weights it ran with before
            self.load_failures.pop(model, None)
            self.notify(
                "warn", f"Could not start {model}: {summary(message)}\nBack to what it ran with before."
            )
            self.switch_model(model, force=True)
            return
        stand_in, self.stand_in = self.stand_in, ""
        if stand_in and stand_in != model:
            self.notify(
                "warn",
                f"Could not start {model}: {summary(message)}\nRunning {stand_in} for now; {model} stays"
                f" your choice for the next start (or pick it again once its weights are back).",
            )
            self.switch_model(stand_in, stand_in_for=model)
            return
        self.conversation.set_state("offline")
        options = self.source(model).options
        hint = (
            f"; its saved options ({', '.join(f'{k}={v}' for k, v in sorted(options.items()))}) can be"
            " forgotten with `duet --model-option KEY=`"
            if options
            else ""
        )
        self.status.emit(
            "error",
            f"The engine could not start {model}: {summary(message)}\nThe model failed to load, so not "
            f"retrying: fix it (e.g. pick its weights{hint}) and press Retry, or pick another model. "
            f"Log: {engine_log_path()}",
        )

    def _drop_untried(self, model: str) -> str:
        """Give up `model`'s weights/options that just failed to load for the ones it had before
        (source_reverted says so, the settings follow). A note for the banner ("" if none)."""
        if model not in self.untried:
            return ""
        failed, before = self.source(model), self.untried.pop(model)
        self.sources[model] = before
        log.warning(
            "model %r: its weights %r are not kept (back to %r)", model, failed.weights, before.weights
        )
        self.source_reverted.emit(model, before)
        return f" Its weights {failed.weights} are not kept." if failed.weights != before.weights else ""

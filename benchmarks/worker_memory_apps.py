"""The apps ``worker_memory.py`` serves with the service's worker class, one per stage.

``WORKER_MEMORY_STAGE`` says how much sits on top of ``bare_fastapi``'s app
(FastAPI validating the rows, nothing of the service): nothing (``bare``),
the numerical libraries the model needs (``imports``), or the served model
as the service loads it (``model``). gunicorn calls ``create_app()`` in the
worker, after the fork, as it does the service's factory.
"""

from __future__ import annotations

import importlib
import os

from bare_fastapi import create_app as create_bare_app
from fastapi import FastAPI

STAGE_ENV = "WORKER_MEMORY_STAGE"
STAGES = ("bare", "imports", "model")
# What the model's scorer imports; imported here so the stage holds nothing of ours.
NUMERICAL_MODULES = ("numpy", "onnxruntime")


def create_app() -> FastAPI:
    """The bare app, with the numerical libraries or the served model, as staged."""
    stage = os.environ[STAGE_ENV]
    if stage not in STAGES:
        raise ValueError(f"{STAGE_ENV}={stage!r}; use one of {', '.join(STAGES)}")
    app = create_bare_app()
    if stage != "bare":
        for name in NUMERICAL_MODULES:
            importlib.import_module(name)
    if stage == "model":
        from app.model import load_served_model

        app.state.served_model = load_served_model("onnx")
    return app

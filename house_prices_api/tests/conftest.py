"""Fixtures: in-process apps (TestClient) and real servers (bin/start over HTTP)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from app.config import Settings
from app.main import create_app
from app.migrate import upgrade
from browser import chromium
from fastapi import FastAPI
from fastapi.testclient import TestClient
from selenium.webdriver import Chrome
from servers import START_SCRIPT, RunningServer, start_server

from regression_model.processing.schema import EXAMPLE_HOUSE


@pytest.fixture(scope="session", autouse=True)
def prediction_log_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Apps and servers log predictions to a session folder, not the checkout's var/.

    Migrated here, as bin/start migrates before its workers start, so that
    in-process apps log too. Tests that need their own database set
    PREDICTION_LOG_DIR or DATABASE_URL themselves.
    """
    folder = tmp_path_factory.mktemp("prediction-log")
    upgrade(f"sqlite:///{folder / 'predictions.sqlite3'}")
    previous = os.environ.get("PREDICTION_LOG_DIR")
    os.environ["PREDICTION_LOG_DIR"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("PREDICTION_LOG_DIR", None)
    else:
        os.environ["PREDICTION_LOG_DIR"] = previous


@pytest.fixture
def example_row() -> dict[str, Any]:
    """A fresh copy of the package's example house."""
    return dict(EXAMPLE_HOUSE)


@pytest.fixture
def make_client() -> Iterator[Callable[..., TestClient]]:
    """Build a started TestClient for an app with the given settings overrides."""
    clients: list[TestClient] = []

    def build(app: FastAPI | None = None, **settings: Any) -> TestClient:
        client = TestClient(app or create_app(Settings(**settings)))
        client.__enter__()  # runs the lifespan: loads and self-tests the model
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    """A TestClient for an app with default settings."""
    return make_client()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The real service (bin/start -> uvicorn) on a free loopback port, small limits."""
    log = tmp_path_factory.mktemp("live") / "server.log"
    server = start_server(
        [str(START_SCRIPT)],
        log,
        env={"MAX_ROWS": "300", "MAX_BODY_BYTES": "2000000", "LOG_LEVEL": "INFO"},
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def default_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The real service (bin/start) with default settings, one per test module."""
    log = tmp_path_factory.mktemp("default-server") / "server.log"
    server = start_server([str(START_SCRIPT)], log)
    yield server
    server.stop()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Chrome]:
    """Headless Chromium with a fresh profile in the test's folder."""
    with chromium(tmp_path / "profile") as driver:
        yield driver

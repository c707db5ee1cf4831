"""The gunicorn worker class that serves the app: uvicorn-worker's, with our options.

``bin/start`` runs gunicorn's arbiter with ``--worker-class app.workers.ServiceWorker``
for any number of workers. The arbiter replaces a worker that dies, drains
the others on SIGTERM within ``--graceful-timeout``, and exits with status 3
(gunicorn's ``WORKER_BOOT_ERROR``) when a worker fails start-up, e.g. on a
model that fails its checks (``app.model``), so an orchestrator sees a
failed release instead of a service that stopped normally.
"""

from __future__ import annotations

from typing import Any, ClassVar

from uvicorn_worker import UvicornWorker

from app.http_protocol import NoDelayHttpToolsProtocol


class ServiceWorker(UvicornWorker):
    """uvicorn in a gunicorn worker, set up the documented way: ``CONFIG_KWARGS``.

    httptools with Nagle off (``app.http_protocol``); the lifespan must run, so
    a model that fails to load stops the worker; no uvicorn access log (the
    app writes its own line per request: ``app.middleware``) and no
    ``Server`` header. The keep-alive timeout is gunicorn's ``--keep-alive``.
    """

    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        "http": NoDelayHttpToolsProtocol,
        "lifespan": "on",
        "access_log": False,
        "server_header": False,
    }

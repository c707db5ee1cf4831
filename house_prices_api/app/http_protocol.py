"""uvicorn's httptools protocol with Nagle's algorithm off, however many workers run.

uvicorn writes a response in two ``send`` calls (the head, then the body).
With Nagle's algorithm on, the body waits for the client to acknowledge
the head, and clients delay that acknowledgement (TCP's delayed ACK), so
every response on a keep-alive connection would wait for that timer. asyncio turns
Nagle off (``TCP_NODELAY``) only on sockets whose protocol number is TCP's,
and a listening socket bound as ``socket.socket(family)`` has 0, so each
accepted connection sets it here. The class is passed to uvicorn as its
``http`` protocol (``app.workers.ServiceWorker``), uvicorn's documented way
to choose one.

The request head is not capped here: llhttp has no limit of its own and
uvicorn offers no option for one, so the proxy in front of the service caps
it (Heroku's router, nginx's ``large_client_header_buffers``, an ALB).
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def disable_nagle(transport: asyncio.BaseTransport) -> None:
    """Set ``TCP_NODELAY`` on the transport's socket if it is a TCP socket."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol; each new connection gets ``TCP_NODELAY`` first."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        disable_nagle(transport)
        super().connection_made(transport)

"""uvicorn's HTTP/1.1 protocol with Nagle's algorithm off, however many workers run.

uvicorn writes a response in two ``send`` calls (the head, then the body).
With Nagle's algorithm on, the body waits for the client to acknowledge
the head, and clients delay that acknowledgement by up to 40 ms, so every
response on a keep-alive connection took 40 ms more. asyncio turns Nagle
off (``TCP_NODELAY``) only on sockets whose protocol number is TCP's; with
one worker uvicorn's listening socket has it, but with several
(``WEB_CONCURRENCY`` > 1) uvicorn binds ``socket.socket(family)``, whose
protocol number is 0, and asyncio leaves Nagle on. Measured on loopback
with two workers: 1-row requests at 8 connections, 181 req/s and p50 44 ms
before, 1,792 req/s and p50 6.5 ms after. ``bin/start`` selects this class
with ``--http``; apart from the socket option it is uvicorn's own h11
protocol.
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol


def disable_nagle(transport: asyncio.BaseTransport) -> None:
    """Set ``TCP_NODELAY`` on the transport's socket if it is a TCP socket."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayH11Protocol(H11Protocol):
    """uvicorn's h11 protocol; each new connection gets ``TCP_NODELAY`` first."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        disable_nagle(transport)
        super().connection_made(transport)

"""uvicorn's HTTP/1.1 protocols with Nagle's algorithm off, however many workers run.

uvicorn writes a response in two ``send`` calls (the head, then the body).
With Nagle's algorithm on, the body waits for the client to acknowledge
the head, and clients delay that acknowledgement by up to 40 ms, so every
response on a keep-alive connection took 40 ms more. asyncio turns Nagle
off (``TCP_NODELAY``) only on sockets whose protocol number is TCP's; with
one worker uvicorn's listening socket has it, but with several
(``WEB_CONCURRENCY`` > 1) uvicorn binds ``socket.socket(family)``, whose
protocol number is 0, and asyncio leaves Nagle on. Measured on loopback
with two workers: 1-row requests at 8 connections, 181 req/s and p50 44 ms
before, 1,792 req/s and p50 6.5 ms after.

``bin/start`` selects ``NoDelayHttpToolsProtocol`` with ``--http``: uvicorn's
httptools (llhttp, in C) protocol, which parses a request in a fraction of
the time of h11's pure Python, plus the cap on the request head that h11
has and llhttp lacks, plus one write per response (``HeadWithBodyTransport``).
``NoDelayH11Protocol`` is the Nagle fix on h11, for a platform without httptools.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# The most bytes a request line and headers may take: h11's default, which
# uvicorn applied before the switch to httptools.
MAX_HEAD_BYTES = 16 * 1024


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


class RequestHeadTooLargeError(ValueError):
    """The request line and headers are over ``MAX_HEAD_BYTES``."""


class NoDelayHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with ``TCP_NODELAY`` and a capped request head.

    llhttp buffers a request head however long it grows, so a client could
    send headers without end; h11 refused heads over 16 KiB. Here the URL
    and headers are counted as the parser hands them over, and bytes that
    arrive while a head is still incomplete are counted too (a header that
    never ends is never handed over). Past ``MAX_HEAD_BYTES`` the client gets
    uvicorn's own 400 and the connection is closed, as with h11.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        disable_nagle(transport)
        self.awaiting_head = True
        self.unparsed_head_bytes = 0
        self.head_bytes = 0
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.awaiting_head:
            self.unparsed_head_bytes += len(data)
        super().data_received(data)
        if (
            self.awaiting_head
            and self.unparsed_head_bytes > MAX_HEAD_BYTES
            and not self.transport.is_closing()
        ):
            self.logger.warning("Request head over %d bytes.", MAX_HEAD_BYTES)
            self.send_400_response("Invalid HTTP request received.")

    def on_message_begin(self) -> None:
        self.head_bytes = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)  # with ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self.awaiting_head = False
        self.unparsed_head_bytes = 0
        super().on_headers_complete()
        # The cycle's task starts on the loop's next turn, so it writes through this.
        self.cycle.transport = HeadWithBodyTransport(self.transport, self.loop)

    def on_message_complete(self) -> None:
        self.awaiting_head = True
        super().on_message_complete()

    def _count_head(self, size: int) -> None:
        # Raised in a parser callback, this surfaces as a parse error: a 400.
        self.head_bytes += size
        if self.head_bytes > MAX_HEAD_BYTES:
            raise RequestHeadTooLargeError(f"request head over {MAX_HEAD_BYTES} bytes")


CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class HeadWithBodyTransport(asyncio.Transport):
    """A response cycle's transport that sends the response head with the body.

    uvicorn writes a response's head and its body in two ``write`` calls, so
    each response costs the server two ``send`` system calls and the client
    two segments to read. This holds the head (the cycle's first write that
    is not ``100 Continue``) until the next write and sends both in one.
    The head never waits longer than the current turn of the event loop: a
    flush is scheduled when it is held, for a response whose body comes
    later (or never: a HEAD request's), and ``close`` flushes first.
    A cycle writes, closes and asks ``is_closing``; those and
    ``get_extra_info`` are passed on to the connection's transport.
    """

    __slots__ = ("_head_seen", "_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop):
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._head_seen = False

    def write(self, data: bytes | bytearray | memoryview[Any]) -> None:
        if self._held is not None:
            data = self._held + data
            self._held = None
        elif not self._head_seen and data != CONTINUE:
            self._head_seen = True
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
            return
        self._transport.write(data)

    def flush(self) -> None:
        """Send a held head now."""
        if self._held is not None:
            held, self._held = self._held, None
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

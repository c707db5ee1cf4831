"""Publishing when the index is down, fails the upload, or drops it midway.

Each failure is a ``PublishError`` naming the index (exit 1 on the command
line, no traceback), leaves no file in the local index's folder (pypiserver
keeps the part of an upload that reached it; publish removes it), and a
publish to a working index afterwards succeeds. A small wheel of the model's name stands
in for the real one: what is tested is the transport, not the model.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import free_port
from stand_in_wheels import stand_in_wheel, wheel_name

from scripts import package_index
from scripts.package_index import (
    PID_FILE,
    PublishError,
    publish,
    start_local_index,
    stop_local_index,
    upload_url_for,
    wheel_content,
)

pytestmark = pytest.mark.process

WHEEL_NAME = wheel_name("0.0.1")
PAYLOAD_BYTES = 300_000  # several times the proxy's cut-off


@pytest.fixture(scope="module")
def small_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid wheel of the model's name with an incompressible 300 kB payload."""
    return stand_in_wheel(
        tmp_path_factory.mktemp("wheel"),
        "0.0.1",
        {"ames_house_price_model_stub/payload.bin": os.urandom(PAYLOAD_BYTES)},
    )


@pytest.fixture
def local_index(tmp_path: Path) -> Iterator[tuple[str, Path, int]]:
    """A running local pypiserver: its simple URL, folder and port."""
    folder, port = tmp_path / "index", free_port()
    index_url = start_local_index(folder, port)
    yield index_url, folder, port
    stop_local_index(folder)


def _wheels_in(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if ".whl" in path.name)


def _assert_publishes_cleanly(wheel: Path, index_url: str, folder: Path) -> None:
    outcome = publish(wheel, index_url, upload_url_for(index_url))
    assert outcome.startswith("published")
    assert _wheels_in(folder) == [wheel.name]
    assert wheel_content(folder / wheel.name) == wheel_content(wheel)


class _FailingIndex(http.server.BaseHTTPRequestHandler):
    """Healthy, lists nothing, and answers every upload with 500."""

    uploads = 0

    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).uploads += 1
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def failing_index() -> Iterator[str]:
    """The simple URL of an index that takes no upload."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FailingIndex)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _FailingIndex.uploads = 0
    yield f"http://127.0.0.1:{server.server_address[1]}/simple/"
    server.shutdown()
    server.server_close()


class _CuttingProxy:
    """Forwards TCP to ``upstream_port``, but drops each connection after the
    client has sent ``cut_after`` bytes: an upload that dies midway."""

    def __init__(self, upstream_port: int, cut_after: int) -> None:
        self.upstream_port = upstream_port
        self.cut_after = cut_after
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._forward, args=(client,), daemon=True).start()

    def _forward(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        back = threading.Thread(target=self._pump, args=(upstream, client), daemon=True)
        back.start()
        sent = 0
        try:
            while chunk := client.recv(65536):
                if sent + len(chunk) > self.cut_after:
                    upstream.sendall(chunk[: self.cut_after - sent])
                    self.cuts += 1
                    break
                upstream.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
        finally:
            for end in (client, upstream):
                # shutdown, not just close: the other thread's recv must see the end
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                target.sendall(chunk)
        except OSError:
            pass

    def close(self) -> None:
        self.listener.close()


def test_an_index_that_is_down_is_named_and_left_untouched(
    small_wheel: Path, local_index: tuple[str, Path, int]
) -> None:
    # Given the local index, stopped
    index_url, folder, port = local_index
    stop_local_index(folder)
    # When the wheel is published to it, then the error names the index
    with pytest.raises(PublishError, match=rf"{re.escape(index_url)} cannot be reached"):
        publish(small_wheel, index_url, upload_url_for(index_url))
    # And once the index is back, nothing was half-published and publishing works
    start_local_index(folder, port)
    assert _wheels_in(folder) == []
    _assert_publishes_cleanly(small_wheel, index_url, folder)


def test_an_index_that_fails_the_upload_is_named(
    small_wheel: Path, failing_index: str, local_index: tuple[str, Path, int]
) -> None:
    # When the wheel is published to an index that answers 500 to uploads
    upload_url = upload_url_for(failing_index)
    with pytest.raises(PublishError) as failure:
        publish(small_wheel, failing_index, upload_url)
    # Then the error says where it went and what came back
    message = str(failure.value)
    assert f"uploading {small_wheel.name} to {upload_url} failed" in message
    assert "500" in message
    assert _FailingIndex.uploads >= 1
    # And a working index takes it afterwards
    index_url, folder, _ = local_index
    _assert_publishes_cleanly(small_wheel, index_url, folder)


def _publish_through_a_cut(
    wheel: Path, index_port: int, index_dir: Path | None
) -> tuple[PublishError, int]:
    """Publish via a link that drops every upload after 64 kB: the error, the cuts."""
    proxy = _CuttingProxy(index_port, cut_after=64_000)
    proxied_url = f"http://127.0.0.1:{proxy.port}/simple/"
    try:
        with pytest.raises(PublishError) as failure:
            publish(wheel, proxied_url, upload_url_for(proxied_url), index_dir=index_dir)
    finally:
        proxy.close()
    assert f"uploading {wheel.name} to {upload_url_for(proxied_url)} failed" in str(
        failure.value
    )
    return failure.value, proxy.cuts


def test_an_upload_cut_off_midway_leaves_no_partial_file(
    small_wheel: Path, local_index: tuple[str, Path, int]
) -> None:
    # Given the local index behind a link that drops uploads midway
    index_url, folder, port = local_index
    # When the wheel is published through it, naming the index's folder
    error, cuts = _publish_through_a_cut(small_wheel, port, index_dir=folder)
    # Then the upload was cut, the part pypiserver kept is gone, and a retry works
    assert cuts >= 1
    assert f"the partial copy the index kept was removed from {folder}" in str(error)
    assert _wheels_in(folder) == []
    _assert_publishes_cleanly(small_wheel, index_url, folder)


def test_a_partial_copy_on_an_index_we_cannot_clean_is_named_and_refused(
    small_wheel: Path, local_index: tuple[str, Path, int]
) -> None:
    # Given an upload cut midway on an index whose folder is not ours to clean
    index_url, folder, port = local_index
    error, _ = _publish_through_a_cut(small_wheel, port, index_dir=None)
    # Then the error says the index kept a damaged copy, and where
    assert "the index kept a damaged copy at http://" in str(error)
    assert "delete it there" in str(error)
    # And publishing again refuses to count that copy as published
    with pytest.raises(PublishError, match=f"holds a damaged {small_wheel.name}"):
        publish(small_wheel, index_url, upload_url_for(index_url))
    # Until the index's folder is named, and the damaged copy is replaced
    outcome = publish(small_wheel, index_url, upload_url_for(index_url), index_dir=folder)
    assert outcome.endswith("(replacing a damaged copy)")
    assert wheel_content(folder / small_wheel.name) == wheel_content(small_wheel)


def _prebuilt(wheel: Path) -> object:
    def build_wheel(outdir: Path) -> Path:
        copy = outdir / wheel.name
        copy.write_bytes(wheel.read_bytes())
        return copy

    return build_wheel


def test_the_command_line_reports_a_failed_upload_without_a_traceback(
    small_wheel: Path,
    failing_index: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(package_index, "build_wheel", _prebuilt(small_wheel))

    status = package_index.main(
        ["publish", "--index-url", failing_index, "--dir", str(tmp_path)]
    )

    output = capsys.readouterr()
    assert status == 1
    assert f"publish FAILED: uploading {small_wheel.name}" in output.err
    assert upload_url_for(failing_index) in output.err
    assert "Traceback" not in output.out + output.err


def _hang_up_on_everyone(listener: socket.socket) -> None:
    while True:
        try:
            connection, _ = listener.accept()
        except OSError:
            return
        connection.close()


def test_the_command_line_reports_a_port_taken_by_something_else(
    small_wheel: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    # Given a loopback index URL whose port is held by something that is no index
    monkeypatch.setattr(package_index, "build_wheel", _prebuilt(small_wheel))
    with socket.create_server(("127.0.0.1", 0)) as squatter:
        port = squatter.getsockname()[1]
        threading.Thread(
            target=_hang_up_on_everyone, args=(squatter,), daemon=True
        ).start()
        # When publishing there (which tries to start the local index on that port)
        status = package_index.main(
            ["publish", "--index-url", f"http://127.0.0.1:{port}/simple/",
             "--dir", str(tmp_path)]
        )  # fmt: skip
    # Then it fails naming the port, and leaves no stale pid file behind
    output = capsys.readouterr()
    assert status == 1
    assert f"publish FAILED: pypiserver did not start on port {port}" in output.err
    assert "Traceback" not in output.out + output.err
    assert not (tmp_path / PID_FILE).exists()

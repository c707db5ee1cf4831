"""Build the model wheel, publish it to a package index, and run a local index.

A published version is immutable, as on PyPI: the API pins
``ames-house-price-model==<VERSION>``, so two different wheels under one
version would make "which model is serving?" unanswerable. ``publish``
therefore compares the freshly built wheel with the one the index already
holds for that version, by content (the RECORD of file hashes, which ignores
zip timestamps): identical means there is nothing to do; different is an
error that asks for a new VERSION. Only the local scratch index of
``tox -e serve`` may have its copy replaced (``replace_in``), so that what
serves locally is always the checkout's model.

The local index is pypiserver on 127.0.0.1 serving ``.package-index/``,
uploads open to localhost, and no fallback to PyPI: a name it lacks is an
error, never a redirect to a public package of the same name.

An index that is down, refuses the upload or drops it midway is a
``PublishError`` naming the index (exit 1 on the command line, no
traceback). pypiserver stores whatever part of an upload reached it before
the connection dropped, so a failed upload is followed by a look at what the
index kept: a partial copy is removed from the local index's folder, or
named for deletion on another index; a publish that finds one refuses to
count it as published. A successful upload is read back and compared.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Literal
from urllib.parse import urljoin, urlparse

from regression_model.hashing import file_sha256
from regression_model.provenance import WHEEL_SOURCES

REPO_ROOT = Path(__file__).resolve().parent.parent
DISTRIBUTION = "ames-house-price-model"
DEFAULT_INDEX_DIR = REPO_ROOT / ".package-index"
INSTALL_MODEL_SCRIPT = REPO_ROOT / "house_prices_api" / "bin" / "install-model"
DEFAULT_INDEX_PORT = 8080
PID_FILE = "pypiserver.pid"
LOG_FILE = "pypiserver.log"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
PROC = Path("/proc")
# The options ``start_local_index`` gives pypiserver: a process carrying them all
# was started by this project's tooling (by any checkout, this code or older).
OUR_INDEX_OPTIONS = ("--disable-fallback", "--health-endpoint", "--authenticate")
# What of the wheel's sources (``WHEEL_SOURCES``, the list that also decides the
# commit the model's metadata records) never goes in.
IGNORED_IN_BUILDS = shutil.ignore_patterns("__pycache__", "*.py[cod]", "*.egg-info")
# 1980-01-01T00:00:00Z, the earliest time a zip entry can hold.
SOURCE_DATE_EPOCH = "315532800"


class PublishError(RuntimeError):
    """The wheel could not be published, or conflicts with the published one."""


def local_index_url(port: int = DEFAULT_INDEX_PORT) -> str:
    """The simple-index URL (pip's ``--index-url``) of the local pypiserver."""
    return f"http://127.0.0.1:{port}/simple/"


def upload_url_for(index_url: str) -> str:
    """Where twine uploads for an index: pypiserver takes uploads at its root."""
    base = index_url.rstrip("/")
    return (base.removesuffix("/simple") or base) + "/"


def is_loopback(url: str) -> bool:
    """True when ``url`` points at this machine."""
    return urlparse(url).hostname in LOOPBACK_HOSTS


def index_is_up(index_url: str, timeout: float = 2.0) -> bool:
    """True when the index answers its health endpoint."""
    try:
        with urllib.request.urlopen(
            urljoin(upload_url_for(index_url), "health"), timeout=timeout
        ) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@dataclass(frozen=True)
class LocalIndex:
    """A local pypiserver ready for ``folder``, and whether this call started it.

    ``started`` tells the caller whether stopping it is its job; ``note`` says
    what was found on the port, for the user.
    """

    url: str
    folder: Path
    started: bool
    note: str


@dataclass(frozen=True)
class IndexProcess:
    """A pypiserver process that serves a loopback port, as /proc describes it."""

    pid: int
    folder: Path
    ours: bool  # started with this project's options (OUR_INDEX_OPTIONS)


def index_process_on(port: int) -> IndexProcess | None:
    """The pypiserver serving ``port``, from its command line in /proc (Linux).

    None when there is no such process, or no /proc to read. The folder is the
    command's last argument, as ``start_local_index`` passes it, resolved
    against the process's working directory.
    """
    for entry in PROC.glob("[0-9]*"):
        try:
            argv = (entry / "cmdline").read_bytes().decode().split("\0")[:-1]
            cwd = Path(os.readlink(entry / "cwd"))
        except (OSError, UnicodeDecodeError):
            continue  # gone meanwhile, or not ours to read
        if _is_pypiserver_on(argv, port):
            ours = all(option in argv for option in OUR_INDEX_OPTIONS)
            return IndexProcess(int(entry.name), cwd / argv[-1], ours)
    return None


def _is_pypiserver_on(argv: list[str], port: int) -> bool:
    is_pypiserver = any(Path(arg).name.startswith("pypiserver") for arg in argv[:3])
    ports = {argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg in ("--port", "-p")}
    ports |= {arg.removeprefix("--port=") for arg in argv if arg.startswith("--port=")}
    return is_pypiserver and str(port) in ports


def ensure_local_index(
    folder: Path = DEFAULT_INDEX_DIR, port: int = DEFAULT_INDEX_PORT, wait_s: float = 30
) -> LocalIndex:
    """Make a pypiserver on 127.0.0.1:``port`` serve ``folder``; say what was there.

    An index already serving ``folder`` is reused. One that serves another
    folder belongs to another checkout: that is an error naming its pid,
    folder and URL and the commands that fix it, since publishing there would
    put this checkout's wheel in another's index. One whose folder no longer
    exists can serve nobody, so if this project's tooling started it, it is
    stopped and replaced. The server runs detached; its pid and log are kept
    in ``folder``.
    """
    index_url = local_index_url(port)
    note = f"started the package index {index_url} for {folder}"
    if index_is_up(index_url):
        running = index_process_on(port)
        if running is None and _recorded_pid(folder) is None:
            raise PublishError(_port_taken(port, "a server this project did not start"))
        reuse = f"reusing the package index {index_url} for {folder}"
        if running is None:  # no /proc to read, but our pid file names a live process
            return LocalIndex(index_url, folder, False, reuse)
        if running.folder.is_dir() and _same_folder(running.folder, folder):
            return LocalIndex(index_url, folder, False, reuse)
        if running.folder.is_dir() or not running.ours:
            raise PublishError(_another_checkouts_index(running, folder, port))
        _stop_pid(running.pid, wait_s)
        note = (
            f"stopped pypiserver (pid {running.pid}) on {index_url}: it served "
            f"{running.folder}, which no longer exists; {note}"
        )
    _start_pypiserver(folder, port, wait_s)
    return LocalIndex(index_url, folder, True, note)


def start_local_index(
    folder: Path = DEFAULT_INDEX_DIR, port: int = DEFAULT_INDEX_PORT, wait_s: float = 30
) -> str:
    """``ensure_local_index``, for callers that only need the index's URL."""
    return ensure_local_index(folder, port, wait_s).url


def _start_pypiserver(folder: Path, port: int, wait_s: float) -> None:
    index_url = local_index_url(port)
    folder.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "pypiserver", "run",
        "--host", "127.0.0.1", "--port", str(port),
        "--authenticate", ".", "--passwords", ".",  # open uploads, localhost only
        "--disable-fallback", "--health-endpoint", "/health",
        str(folder.resolve()),
    ]  # fmt: skip
    with (folder / LOG_FILE).open("ab") as log:
        server = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    (folder / PID_FILE).write_text(f"{server.pid}\n")
    deadline = time.monotonic() + wait_s
    while not index_is_up(index_url):
        if server.poll() is not None or time.monotonic() > deadline:
            stop_local_index(folder)
            raise PublishError(
                f"pypiserver did not start on port {port} (is something else "
                f"listening there?); see {folder / LOG_FILE}"
            )
        time.sleep(0.2)


def _same_folder(served: Path, folder: Path) -> bool:
    return os.path.abspath(served) == os.path.abspath(folder)


def _recorded_pid(folder: Path) -> int | None:
    """The pid in ``folder``'s pid file if that process is still alive."""
    try:
        pid = int((folder / PID_FILE).read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def _another_port(port: int) -> int:
    """A free loopback port other than ``port``, to suggest in a message."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = int(probe.getsockname()[1])
    return free if free != port else port + 1


def _port_taken(port: int, by: str) -> str:
    return (
        f"127.0.0.1:{port} answers as a package index, but it is {by}; stop it, "
        f"or use another port: tox -e serve -- --index-port {_another_port(port)}"
    )


def _another_checkouts_index(running: IndexProcess, folder: Path, port: int) -> str:
    state = "" if running.folder.is_dir() else " (a folder that no longer exists)"
    owner = "" if running.ours else ", started by something other than this project"
    return (
        f"the package index on {local_index_url(port)} is pypiserver (pid "
        f"{running.pid}{owner}) serving {running.folder}{state}, not {folder}. "
        f"Stop it with: kill {running.pid}; or use another port: "
        f"tox -e serve -- --index-port {_another_port(port)}"
    )


def stop_local_index(folder: Path = DEFAULT_INDEX_DIR, wait_s: float = 10) -> bool:
    """Stop the pypiserver started for ``folder``; False if none was recorded."""
    pid_file = folder / PID_FILE
    if not pid_file.is_file():
        return False
    pid = int(pid_file.read_text())
    pid_file.unlink()
    return _stop_pid(pid, wait_s)


def _stop_pid(pid: int, wait_s: float) -> bool:
    """SIGTERM ``pid``, SIGKILL it if it lingers; False if it was already gone."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if _has_exited(pid):
            return True
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    return True


def _has_exited(pid: int) -> bool:
    """True once ``pid`` is gone; our own child is reaped, else it stays a zombie."""
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not our child: its parent reaps it
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
    return reaped == pid


def build_wheel(outdir: Path) -> Path:
    """Build the model wheel from the repository into ``outdir``; return its path.

    Reproducibly: the same sources and trained artifact give the same bytes,
    so the SHA-256 the service pins names one wheel, and a rebuild can be
    checked against it. The wheel is built from a scratch copy of what it is
    made of (no stale ``build/`` folder can add old files), with every zip
    timestamp fixed by ``SOURCE_DATE_EPOCH``; the build backend's versions
    are pinned in pyproject.toml. ``file_sha256`` of the result is what pip's
    ``--hash=sha256:`` checks.
    """
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "source"
        for name in WHEEL_SOURCES:
            if (REPO_ROOT / name).is_dir():
                shutil.copytree(REPO_ROOT / name, source / name, ignore=IGNORED_IN_BUILDS)
            else:
                (source / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO_ROOT / name, source / name)
        subprocess.run(
            [sys.executable, "-m", "build", "--wheel", "--outdir", str(outdir),
             str(source)],
            check=True,
            env={**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH},
        )  # fmt: skip
    wheels = sorted(outdir.glob("*.whl"))
    if len(wheels) != 1:
        raise PublishError(f"expected one wheel in {outdir}, found {wheels}")
    return wheels[0]


def install_model(
    python: Path, index_url: str, version: str, sha256: str, *pip_args: str
) -> None:
    """Install the model's ``version`` into ``python``'s environment (bin/install-model).

    From ``index_url`` only, and only a file whose SHA-256 is ``sha256`` (the
    index's copy of the build just published: see ``published_sha256``).
    """
    subprocess.run(
        [str(INSTALL_MODEL_SCRIPT), *pip_args],
        check=True,
        env={
            **os.environ,
            "PYTHON": str(python),
            "MODEL_INDEX_URL": index_url,
            "MODEL_VERSION": version,
            "MODEL_SHA256": sha256,
        },
    )


def wheel_content(wheel: Path) -> frozenset[str]:
    """The wheel's RECORD lines (path, hash, size of each file), minus RECORD's own."""
    with zipfile.ZipFile(wheel) as archive:
        record = next(n for n in archive.namelist() if n.endswith(".dist-info/RECORD"))
        lines = archive.read(record).decode().splitlines()
    return frozenset(line for line in lines if line and not line.startswith(record))


class _LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.links.append(href)


def published_url(index_url: str, filename: str) -> str | None:
    """The download URL of ``filename`` on the index's page for the model, if listed."""
    page_url = urljoin(index_url.rstrip("/") + "/", f"{DISTRIBUTION}/")
    try:
        with urllib.request.urlopen(page_url, timeout=30) as response:
            page = response.read().decode()
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise PublishError(
            f"package index {index_url} answered {error.code} {error.reason} for "
            f"{page_url}; nothing was uploaded"
        ) from error
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise PublishError(
            f"package index {index_url} cannot be reached ({reason}); "
            "nothing was uploaded"
        ) from error
    parser = _LinkParser()
    parser.feed(page)
    for link in parser.links:
        url = urljoin(page_url, link).split("#", 1)[0]
        if url.rsplit("/", 1)[-1] == filename:
            return url
    return None


def twine_upload(wheel: Path, upload_url: str) -> None:
    """Upload with twine; on this machine's index, with placeholder credentials.

    twine's own output is passed on; if it fails, ``PublishError`` says where
    to and why, in twine's last words (twine prints a traceback when the index
    cannot be reached).
    """
    env = dict(os.environ)
    if is_loopback(upload_url):  # the local pypiserver checks none, twine wants some
        env.setdefault("TWINE_USERNAME", "local")
        env.setdefault("TWINE_PASSWORD", "local")
    twine = [sys.executable, "-m", "twine", "--no-color"]
    _run_twine([*twine, "check", str(wheel)], env, f"twine check {wheel.name}")
    _run_twine(
        [*twine, "upload", "--non-interactive", "--disable-progress-bar",
         "--repository-url", upload_url, str(wheel)],
        env,
        f"uploading {wheel.name} to {upload_url}",
    )  # fmt: skip


def _run_twine(command: list[str], env: dict[str, str], doing: str) -> None:
    completed = subprocess.run(
        command, env=env, capture_output=True, text=True, check=False
    )
    sys.stdout.write(completed.stdout)
    if completed.returncode != 0:
        lines = [
            " ".join(line.split())
            for line in (completed.stdout + completed.stderr).splitlines()
        ]
        errors = [line for line in lines if re.search(r"^ERROR\b|Error: ", line)]
        last_words = (errors or [line for line in lines if line] or ["no output"])[-1]
        raise PublishError(
            f"{doing} failed (twine exit {completed.returncode}): {last_words}"
        )


PublishedCopy = Literal["absent", "identical", "different", "damaged"]


def published_copy(index_url: str, wheel: Path) -> tuple[str | None, PublishedCopy]:
    """Where the index lists ``wheel``'s file, and how its copy compares with it.

    ``damaged`` is a file that is not a readable wheel: pypiserver stores what
    it received of an upload whose connection dropped midway.
    """
    url, state, _ = _fetch_published(index_url, wheel)
    return url, state


def published_sha256(index_url: str, wheel: Path) -> str:
    """The SHA-256 of the index's copy of ``wheel``, once it is known to be this build.

    What the service pins (``--hash=sha256:``): the bytes pip will download,
    read back from the index, and only if their content is ``wheel``'s.
    """
    url, state, sha256 = _fetch_published(index_url, wheel)
    if state != "identical" or sha256 is None:
        raise PublishError(
            f"{index_url} holds {'no' if url is None else 'a ' + state} copy of "
            f"{wheel.name}; publish this build first"
        )
    return sha256


def _fetch_published(
    index_url: str, wheel: Path
) -> tuple[str | None, PublishedCopy, str | None]:
    """The index's URL for ``wheel``'s file, its state, and its SHA-256 if readable."""
    url = published_url(index_url, wheel.name)
    if url is None:
        return None, "absent", None
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / wheel.name
        try:
            urllib.request.urlretrieve(url, copy)
        except (urllib.error.URLError, OSError) as error:
            raise PublishError(
                f"package index {index_url} lists {wheel.name} but the download "
                f"from {url} failed ({error})"
            ) from error
        try:
            same = wheel_content(copy) == wheel_content(wheel)
        except (zipfile.BadZipFile, StopIteration, UnicodeDecodeError):
            return url, "damaged", None
        return url, "identical" if same else "different", file_sha256(copy)


def publish(
    wheel: Path,
    index_url: str,
    upload_url: str,
    replace_in: Path | None = None,
    index_dir: Path | None = None,
) -> str:
    """Make ``index_url`` hold exactly ``wheel``; return what was done.

    See the module docstring for why a different wheel under a published
    version is an error unless ``replace_in`` (the local index's folder) is
    given. ``index_dir`` (implied by ``replace_in``) is the folder this
    machine's index serves: a damaged copy, left by an upload that failed
    midway, is removed from it; on any other index it must be deleted by hand.
    What the index holds after the upload is read back and compared.
    """
    local_dir = replace_in or index_dir
    existing, state = published_copy(index_url, wheel)
    if state == "identical":
        return f"{wheel.name} is already published, identical to this build"
    if state == "different" and replace_in is None:
        raise PublishError(
            f"{index_url} already holds a different {wheel.name}: published "
            "versions are immutable; bump regression_model/VERSION (and the pin "
            "in house_prices_api/requirements-model.txt)"
        )
    if state == "damaged" and not _remove_local_copy(wheel, local_dir):
        raise PublishError(
            f"{index_url} holds a damaged {wheel.name} at {existing} (not a readable "
            "wheel: the rest of a failed upload); delete it there, then publish again"
        )
    if state == "different" and replace_in is not None:
        (replace_in / wheel.name).unlink()
    try:
        twine_upload(wheel, upload_url)
    except PublishError as error:
        left = _after_failed_upload(wheel, index_url, local_dir)
        raise PublishError(f"{error}; {left}") from error
    url, after = published_copy(index_url, wheel)
    if after != "identical":
        raise PublishError(
            f"uploaded {wheel.name} to {upload_url}, but {index_url} then lists "
            f"{'no' if url is None else 'a ' + after} copy of it"
        )
    replaced = {
        "different": " (replacing an older local build)",
        "damaged": " (replacing a damaged copy)",
    }.get(state, "")
    return f"published {wheel.name} to {index_url}{replaced}"


def _remove_local_copy(wheel: Path, local_dir: Path | None) -> bool:
    """Delete ``wheel``'s file from this machine's index folder; False if not there."""
    if local_dir is None or not (local_dir / wheel.name).is_file():
        return False
    (local_dir / wheel.name).unlink()
    return True


def _after_failed_upload(wheel: Path, index_url: str, local_dir: Path | None) -> str:
    """What a failed upload left on the index, cleaned up where this machine can."""
    try:
        url, state = published_copy(index_url, wheel)
    except PublishError as error:
        return f"could not check whether the index kept part of it ({error})"
    if state == "absent":
        return "the index holds no copy of it"
    if state == "damaged" and _remove_local_copy(wheel, local_dir):
        return f"the partial copy the index kept was removed from {local_dir}"
    return (
        f"the index kept a {state} copy at {url}: delete it there before publishing again"
    )


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("start", "stop"):
        local = commands.add_parser(name, help=f"{name} the local pypiserver")
        local.add_argument("--dir", type=Path, default=DEFAULT_INDEX_DIR)
        local.add_argument("--port", type=int, default=DEFAULT_INDEX_PORT)
    upload = commands.add_parser("publish", help="build the wheel and upload it")
    upload.add_argument(
        "--index-url",
        default=os.environ.get("MODEL_INDEX_URL") or local_index_url(),
        help="the index's simple URL (env MODEL_INDEX_URL; default: the local index)",
    )
    upload.add_argument(
        "--upload-url",
        default=os.environ.get("MODEL_UPLOAD_URL"),
        help="where twine uploads (env MODEL_UPLOAD_URL; default: the index's root)",
    )
    upload.add_argument(
        "--dir",
        type=Path,
        default=DEFAULT_INDEX_DIR,
        help="the folder a local index serves (started there if not running)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``start`` / ``stop`` the local index, or ``publish`` the wheel."""
    args = _parse_args(argv)
    try:
        print(_run_command(args))
    except PublishError as error:
        print(f"{args.command} FAILED: {error}", file=sys.stderr)
        return 1
    return 0


def _run_command(args: argparse.Namespace) -> str:
    if args.command == "start":
        return ensure_local_index(args.dir, args.port).note
    if args.command == "stop":
        return "stopped" if stop_local_index(args.dir) else "no local index was running"
    return _publish_command(args)


def _publish_command(args: argparse.Namespace) -> str:
    """Build and publish; a loopback target that is down or a pypiserver is made the
    index of ``--dir`` first (``ensure_local_index``), any other is taken as given."""
    index_url: str = args.index_url
    port = urlparse(index_url).port or DEFAULT_INDEX_PORT
    if is_loopback(index_url) and (
        not index_is_up(index_url) or index_process_on(port) is not None
    ):
        print(ensure_local_index(args.dir, port).note)
    with tempfile.TemporaryDirectory() as outdir:
        wheel = build_wheel(Path(outdir))
        upload_url = args.upload_url or upload_url_for(index_url)
        index_dir = args.dir if is_loopback(index_url) else None
        return publish(wheel, index_url, upload_url, index_dir=index_dir)


if __name__ == "__main__":
    raise SystemExit(main())

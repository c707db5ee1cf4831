"""``tox -e serve``: serve the checkout's model the way production does, from its wheel.

Steps: train if no artifact exists; start the local package index unless it
is running; build the wheel and publish it there (replacing a stale local
build of the same version, so what serves is always the checkout's model);
create the API's own environment from house_prices_api/requirements.txt;
install that build from the local index only, by its version and the SHA-256
of the index's copy (bin/install-model, which refuses any other bytes);
then run bin/start until Ctrl-C or SIGTERM, which it passes on. The API's
environment gets no PYTHONPATH and the start script puts only the app's
folder on the import path, so ``regression_model`` comes from the installed
wheel, not from the checkout; the start-up log prints the path it was
imported from.

An index this run started is stopped when it ends (``--keep-index`` leaves it
running); one it found serving this checkout's folder is left as it was. An
index on the port that serves another checkout stops the run with a message
naming it (see ``scripts.package_index.ensure_local_index``).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

from regression_model.config.core import package_version
from scripts.package_index import (
    DEFAULT_INDEX_DIR,
    DEFAULT_INDEX_PORT,
    REPO_ROOT,
    LocalIndex,
    PublishError,
    build_wheel,
    ensure_local_index,
    install_model,
    publish,
    published_sha256,
    stop_local_index,
    upload_url_for,
)

API_DIR = REPO_ROOT / "house_prices_api"
START_SCRIPT = API_DIR / "bin" / "start"
DEFAULT_VENV = REPO_ROOT / ".tox" / "serve-api"
# Variables that would let the server import something other than the venv's packages.
LEAKY_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE")


def train_if_missing() -> None:
    """Train from the checkout unless a verified artifact for VERSION exists."""
    subprocess.run(
        [sys.executable, "-m", "regression_model.train_pipeline", "--if-missing"],
        check=True,
        cwd=REPO_ROOT,
    )


def ensure_api_env(venv_dir: Path) -> Path:
    """Create or update the API's environment from its requirements; return its python."""
    python = venv_dir / "bin" / "python"
    if not python.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet",
         "-r", str(API_DIR / "requirements.txt")],
        check=True,
    )  # fmt: skip
    return python


def service_env(venv_dir: Path, host: str, port: int) -> dict[str, str]:
    """The server's environment: the API's venv first on PATH, nothing leaking in."""
    env = {k: v for k, v in os.environ.items() if k not in LEAKY_VARIABLES}
    env["VIRTUAL_ENV"] = str(venv_dir)
    env["PATH"] = f"{venv_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["HOST"] = host
    env["PORT"] = str(port)
    return env


def run_server(venv_dir: Path, host: str, port: int) -> int:
    """Run bin/start until it exits or this process is told to stop; its exit code.

    The server gets its own process group: Ctrl-C reaches this process only,
    which then stops the server with one SIGTERM (a graceful shutdown) and
    waits for it.
    """
    server = subprocess.Popen(
        [str(START_SCRIPT)], env=service_env(venv_dir, host, port), start_new_session=True
    )
    try:
        return server.wait()
    except KeyboardInterrupt:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait()
        return 0


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--index-dir", type=Path, default=DEFAULT_INDEX_DIR)
    parser.add_argument("--index-port", type=int, default=DEFAULT_INDEX_PORT)
    parser.add_argument(
        "--keep-index",
        action="store_true",
        help="leave the package index running when serving stops (by default an "
        "index this run started is stopped with it)",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8001")))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Prepare everything, serve until stopped, then stop the index this run started."""
    args = _parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM as Ctrl-C
    train_if_missing()
    try:
        index = ensure_local_index(args.index_dir, args.index_port)
    except PublishError as error:
        print(f"serve FAILED: {error}", file=sys.stderr)
        return 1
    print(index.note, flush=True)
    try:
        return _publish_install_and_serve(args, index)
    except KeyboardInterrupt:
        return 0
    finally:
        if index.started and not args.keep_index:
            stop_local_index(index.folder)
            print(f"stopped the package index {index.url}", flush=True)
        elif index.started:
            print(
                f"the package index {index.url} keeps running (--keep-index); stop it "
                f"with: python -m scripts.package_index stop --dir {index.folder}",
                flush=True,
            )


def _publish_install_and_serve(args: argparse.Namespace, index: LocalIndex) -> int:
    with tempfile.TemporaryDirectory() as outdir:
        wheel = build_wheel(Path(outdir))
        print(publish(wheel, index.url, upload_url_for(index.url), args.index_dir))
        sha256 = published_sha256(index.url, wheel)
    python = ensure_api_env(args.venv)
    install_model(python, index.url, package_version(), sha256)
    print(f"serving on http://{args.host}:{args.port}/ (docs at /docs)", flush=True)
    return run_server(args.venv, args.host, args.port)


if __name__ == "__main__":
    raise SystemExit(main())

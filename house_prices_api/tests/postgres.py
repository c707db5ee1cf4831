"""A real PostgreSQL server for the tests: initdb in a temp folder, a free loopback port.

Debian's ``postgresql`` package (``.ci/run`` installs it) puts the binaries
under ``/usr/lib/postgresql/<major>/bin``. PostgreSQL refuses to run as
root, so as root every command runs as the ``postgres`` user, which owns
the data folder (a folder outside pytest's temp tree, whose parents only
root may enter).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from servers import free_port

POSTGRES_USER = "postgres"


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin folder, or None when none is installed."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parts[-3]),
    )
    return Path(found[-1]).parent if found else None


def _as_owner(command: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", POSTGRES_USER, "--", *command]
    return command


@dataclass
class PostgresServer:
    """One throwaway cluster: start, stop, start again on the same port, remove."""

    bin_dir: Path
    data_dir: Path
    port: int

    @property
    def url(self) -> str:
        """Heroku's spelling (``postgres://``), which the service must accept."""
        return f"postgres://{POSTGRES_USER}@127.0.0.1:{self.port}/postgres"

    @property
    def sqlalchemy_url(self) -> str:
        """The same database for the tests' own queries."""
        return f"postgresql+psycopg://{POSTGRES_USER}@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            _as_owner([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), *args]),
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = (
            f"-p {self.port} -h 127.0.0.1 -k {self.data_dir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._ctl("-o", options, "-l", str(self.data_dir / "server.log"), "-w", "start")

    def stop(self) -> None:
        """Stop it at once, cutting off connected clients (``-m fast``)."""
        self._ctl("-m", "fast", "-w", "stop")

    def remove(self) -> None:
        """Stop (if running) and delete the cluster."""
        subprocess.run(
            _as_owner(
                [
                    str(self.bin_dir / "pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-m",
                    "immediate",
                    "stop",
                ]
            ),
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(self.data_dir, ignore_errors=True)


def create_cluster(bin_dir: Path) -> PostgresServer:
    """initdb a cluster (trust auth, loopback only) in a fresh temp folder."""
    data_dir = Path(tempfile.mkdtemp(prefix="house-prices-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data_dir, POSTGRES_USER, POSTGRES_USER)
    subprocess.run(
        _as_owner(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data_dir),
                "-U",
                POSTGRES_USER,
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ]
        ),
        check=True,
        capture_output=True,
        timeout=120,
    )
    return PostgresServer(bin_dir=bin_dir, data_dir=data_dir, port=free_port())

"""A real, throw-away PostgreSQL server for the event-store tests: initdb in a temp folder, pg_ctl start on
a free loopback port, trust authentication, stopped and deleted afterwards.

The server binaries come from Debian's `postgresql` package (`make install-dev` installs it). PostgreSQL
refuses to run as root, so under root the server runs as the `postgres` account the package creates (or
`nobody`).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hostkit import free_port

SUPERUSER = "postgres"


def server_binaries() -> Path | None:
    """The folder holding initdb and pg_ctl, or None when PostgreSQL's server is not installed."""
    candidates = [Path(p).parent for p in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)]
    found = shutil.which("initdb")
    if found:
        candidates.insert(0, Path(found).resolve().parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def why_unavailable() -> str | None:
    """Why no server can be started here (None when one can): the skip reason of the PostgreSQL tests."""
    if server_binaries() is None:
        return "PostgreSQL server not installed (initdb/pg_ctl not found): `apt-get install postgresql`"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "the psycopg driver is not installed (`pip install -e .`)"
    if os.geteuid() == 0 and _run_as() is None:
        return "running as root and no unprivileged account (postgres, nobody) to run the server as"
    return None


def _run_as() -> str | None:
    """The account the server runs as: None for the current user unless that is root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    return None


@dataclass
class PostgresServer:
    bindir: Path
    folder: Path
    port: int
    user: str | None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def _pg(self, *args: str, timeout: float = 60) -> None:
        subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            check=True,
            capture_output=True,
            timeout=timeout,
            user=self.user,
            cwd=self.folder,  # the server's account may not be allowed into the caller's folder
        )

    def init(self) -> None:
        self._pg("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "--no-sync", "-E", "UTF8")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._pg("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"), "-w", "start")

    def stop(self) -> None:
        self._pg("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def is_running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A started server; stopped and its folder deleted on exit."""
    bindir = server_binaries()
    assert bindir is not None, why_unavailable()
    user = _run_as()
    folder = Path(tempfile.mkdtemp(prefix="fa-postgres-"))
    try:
        if user is not None:
            account = pwd.getpwnam(user)
            os.chown(folder, account.pw_uid, account.pw_gid)
        server = PostgresServer(bindir, folder, free_port(), user)
        server.init()
        server.start()
        try:
            yield server
        finally:
            if server.is_running():
                with contextlib.suppress(subprocess.SubprocessError):
                    server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def wait_until(condition, timeout_s: float = 20.0, every_s: float = 0.1) -> bool:
    """Poll `condition()` until it is true (True) or the time is up (False)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every_s)
    return bool(condition())

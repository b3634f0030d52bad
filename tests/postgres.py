"""A throwaway PostgreSQL server for the tests marked ``postgres`` (issue #17 §2).

The server is Debian's ``postgresql`` package's binaries (``/usr/lib/postgresql/*/bin``;
``.ci/run`` installs the package), run from a fresh temporary folder: ``initdb`` with a
password (scram-sha-256, so wrong credentials are refused as on a real deployment), then
``pg_ctl start`` on a free localhost port, its Unix socket in the same folder, ``fsync``
off (nothing here needs to survive a crash of the machine). PostgreSQL refuses to run as
root, so under root every server command runs as the ``postgres`` system user that the
package creates (``runuser -u postgres``), in a folder that user owns.

When the binaries (or the psycopg driver) are missing, the tests are skipped with the
package to install; under CI (``CI=true``) they fail instead, so that CI cannot skip them
silently.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

USER = "autolr"
PASSWORD = "pg-test-secret"
SERVICE_USER = "postgres"  # the system user Debian's package creates


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """Skip (locally) or fail (under CI) a test that needs the server."""
    if in_ci():
        pytest.fail(f"CI=true and the PostgreSQL tests cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


def find_bindir() -> Path | None:
    """The newest ``/usr/lib/postgresql/N/bin`` (Debian's layout), else the folder of an
    ``initdb`` on PATH."""

    def version(p: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", p.parent.parent.name))

    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=version)
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """One ``initdb``'d cluster in a temporary folder; ``start``, ``stop``, ``url``."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.as_root = os.geteuid() == 0
        self.root = Path(tempfile.mkdtemp(prefix="autolr-pg-"))
        if self.as_root:
            service = pwd.getpwnam(SERVICE_USER)  # KeyError: no such user
            os.chown(self.root, service.pw_uid, service.pw_gid)
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()

    def _run(self, *args: str, timeout: float = 120) -> None:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", SERVICE_USER, "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(
                f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}\n{log}"
            )

    def init(self) -> None:
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self.as_root:
            service = pwd.getpwnam(SERVICE_USER)
            os.chown(pwfile, service.pw_uid, service.pw_gid)
        pwfile.chmod(0o600)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            USER,
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "--no-locale",
            "--encoding=UTF8",
            "--no-sync",
        )
        pwfile.unlink()

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self) -> None:
        """Stop now (``-m fast``: open connections are cut, as in a server restart)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def url(self, database: str = "postgres", password: str = PASSWORD) -> str:
        """A bare ``postgresql://`` URL, as a user writes it (the store picks psycopg)."""
        return f"postgresql://{USER}:{password}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres"):
        """A psycopg connection in autocommit mode, for the tests' own SQL."""
        import psycopg

        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=USER,
            password=PASSWORD,
            dbname=database,
            autocommit=True,
        )

    def create_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with self.connect() as con:
            con.execute(f'CREATE DATABASE "{name}"')
        return name

    def close(self) -> None:
        try:
            if self.running():
                self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def start_server() -> PostgresServer:
    """A started server, or skip/fail (``unavailable``) naming what to install."""
    bindir = find_bindir()
    if bindir is None or not (bindir / "pg_ctl").exists():
        unavailable(
            "no PostgreSQL server binaries (initdb, pg_ctl): install Debian's postgresql "
            "package (apt-get install postgresql), as .ci/run does"
        )
    try:
        import psycopg  # noqa: F401
    except ImportError:
        unavailable("the psycopg driver is missing: pip install -e '.[test]' (or '.[postgres]')")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVICE_USER)
        except KeyError:
            unavailable(
                f"running as root and there is no {SERVICE_USER!r} user to run the server "
                "as (Debian's postgresql package creates it)"
            )
        if shutil.which("runuser") is None:
            unavailable("running as root and runuser (util-linux) is missing")
    server = PostgresServer(bindir)
    try:
        server.init()
        server.start()
    except BaseException:
        server.close()
        raise
    return server

"""A private, real Postgres cluster under the CodeSight home folder (`codesight up` without a database URL)."""

from __future__ import annotations

import glob
import grp
import os
import pwd
import re
import secrets
import shlex
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import psycopg
import structlog
from psycopg import sql

from lab.config import Settings, child_process_env

log = structlog.get_logger(__name__)

DATABASE_NAME = "codesight"
SUPERUSER = "postgres"
# Postgres refuses to run as root; a root process runs the server binaries as this OS user.
SERVER_OS_USER = "postgres"
PASSWORD_FILE = "codesight.password"
LOG_FILE = "postgres.log"
START_TIMEOUT_S = 60
DEBIAN_BIN_GLOB = "/usr/lib/postgresql/*/bin"
# Lines of postmaster.pid, https://www.postgresql.org/docs/15/server-start.html ("postmaster.pid")
PIDFILE_PID_LINE, PIDFILE_PORT_LINE = 0, 3


class EmbeddedPostgresError(RuntimeError):
    """The embedded cluster could not be created, started or stopped; the message says why."""


def find_postgres_bin(preferred: Path | None = None) -> Path:
    """The folder holding initdb/pg_ctl/postgres: `preferred`, else Debian's highest version, else PATH."""
    if preferred is not None:
        if not (preferred / "pg_ctl").is_file():
            raise EmbeddedPostgresError(f"CODESIGHT_POSTGRES_BIN={preferred} holds no pg_ctl")
        return preferred
    debian = [Path(p) for p in glob.glob(DEBIAN_BIN_GLOB) if (Path(p) / "pg_ctl").is_file()]
    if debian:
        return max(debian, key=lambda p: _version_key(p.parent.name))
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).resolve().parent
    raise EmbeddedPostgresError(
        "no Postgres server binaries found: install postgresql (Debian: apt-get install postgresql) "
        "or set CODESIGHT_POSTGRES_BIN to the folder holding pg_ctl"
    )


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name)) or (0,)


class EmbeddedPostgres:
    """One Postgres cluster in `data_dir`, listening on 127.0.0.1:`port` only, password-protected.

    `durable=False` turns off fsync and friends: fast, and fine for throwaway test clusters,
    never for `codesight up` where the data is real.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int,
        bin_dir: Path | None = None,
        *,
        durable: bool = True,
        database: str = DATABASE_NAME,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.bin_dir = find_postgres_bin(bin_dir)
        self.durable = durable
        self.database = database
        self._started_here = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """The cluster `codesight up` runs: `<home>/postgres` on `embedded_pg_port`."""
        return cls(settings.home / "postgres", settings.embedded_pg_port, settings.postgres_bin)

    # -- addresses -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """`postgresql://` URL of the `codesight` database."""
        return self.url_for(self.database)

    def url_for(self, database: str) -> str:
        """`postgresql://` URL of any database in this cluster."""
        return f"postgresql://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{database}"

    @property
    def password(self) -> str:
        try:
            return (self.data_dir / PASSWORD_FILE).read_text().strip()
        except FileNotFoundError:
            raise EmbeddedPostgresError(f"{self.data_dir} is not initialised yet (no {PASSWORD_FILE})") from None

    @property
    def log_path(self) -> Path:
        return self.data_dir / LOG_FILE

    # -- lifecycle -------------------------------------------------------------------------

    def is_initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").is_file()

    def ensure_initialised(self) -> None:
        """Create the cluster with initdb unless `data_dir` already holds one."""
        if self.is_initialised():
            return
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise EmbeddedPostgresError(
                f"{self.data_dir} exists, is not empty and holds no Postgres cluster; "
                "move it away or point CODESIGHT_HOME elsewhere"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        owner = _server_owner()
        if owner is not None:
            _check_traversable(self.data_dir.parent, owner)
            os.chown(self.data_dir, owner.pw_uid, owner.pw_gid)
        self.data_dir.chmod(0o700)

        password = secrets.token_urlsafe(24)
        with tempfile.NamedTemporaryFile("w", prefix="codesight-pw-", delete=False) as pwfile:
            pwfile.write(password + "\n")
        try:
            if owner is not None:
                os.chown(pwfile.name, owner.pw_uid, owner.pw_gid)
            args = [
                str(self.bin_dir / "initdb"),
                f"--pgdata={self.data_dir}",
                f"--username={SUPERUSER}",
                f"--pwfile={pwfile.name}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
            ]
            if not self.durable:
                args.append("--no-sync")
            self._run(args, what="initdb")
        finally:
            os.unlink(pwfile.name)
        password_path = self.data_dir / PASSWORD_FILE
        password_path.write_text(password + "\n")
        password_path.chmod(0o600)
        if owner is not None:
            os.chown(password_path, owner.pw_uid, owner.pw_gid)
        log.info("embedded_pg.initialised", data_dir=str(self.data_dir))

    def is_running(self) -> bool:
        """True when a postmaster serves `data_dir` (per `pg_ctl status`)."""
        if not self.is_initialised():
            return False
        result = self._run([str(self.bin_dir / "pg_ctl"), "status", "-D", str(self.data_dir)], check=False)
        return result.returncode == 0

    def start(self) -> None:
        """Initialise if needed, start the server unless it already runs, and create the database."""
        self.ensure_initialised()
        self._remove_stale_pidfile()
        if self.is_running():
            running_port = self._pidfile_line(PIDFILE_PORT_LINE)
            if running_port != str(self.port):
                raise EmbeddedPostgresError(
                    f"the cluster in {self.data_dir} already runs on port {running_port}, not {self.port}"
                )
            log.info("embedded_pg.already_running", data_dir=str(self.data_dir), port=self.port)
        else:
            self._pg_ctl_start()
            self._started_here = True
            log.info("embedded_pg.started", data_dir=str(self.data_dir), port=self.port)
        self.create_database(self.database)

    def stop(self) -> None:
        """Stop the server (fast shutdown: open sessions are rolled back) if it runs."""
        if not self.is_running():
            return
        self._run(
            [str(self.bin_dir / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60"],
            what="pg_ctl stop",
        )
        self._started_here = False
        log.info("embedded_pg.stopped", data_dir=str(self.data_dir))

    def create_database(self, name: str, *, template: str | None = None) -> bool:
        """Create database `name` (optionally from `template`) unless it exists; True when created."""
        with psycopg.connect(self.url_for("postgres"), autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                return False
            query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
            if template is not None:
                query = sql.SQL("{} TEMPLATE {}").format(query, sql.Identifier(template))
            conn.execute(query)
        return True

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # A cluster that was already running belongs to someone else (another `codesight` process).
        if self._started_here:
            self.stop()

    # -- internals -------------------------------------------------------------------------

    def _server_options(self) -> list[str]:
        options = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            # No Unix socket: avoids /var/run permissions and the 107-byte socket path limit.
            "unix_socket_directories": "",
            "logging_collector": "off",
        }
        if not self.durable:
            options |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        return [f"-c {name}={shlex.quote(value)}" for name, value in options.items()]

    def _pg_ctl_start(self) -> None:
        args = [
            str(self.bin_dir / "pg_ctl"),
            "start",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_path),
            "-w",
            "-t",
            str(START_TIMEOUT_S),
            "-o",
            " ".join(self._server_options()),
        ]
        result = self._run(args, check=False)
        if result.returncode != 0:
            raise EmbeddedPostgresError(
                f"pg_ctl start failed for {self.data_dir} on port {self.port} (exit {result.returncode}):\n"
                f"{result.stdout}{result.stderr}\n--- {self.log_path} (tail) ---\n{self._log_tail()}"
            )

    def _remove_stale_pidfile(self) -> None:
        """Drop a postmaster.pid left by a crash whose PID now belongs to an unrelated process.

        pg_ctl and the postmaster handle a pid file whose process is gone; a recycled PID
        (common in containers) would make them believe the server still runs.
        """
        pid_text = self._pidfile_line(PIDFILE_PID_LINE)
        if pid_text is None or not pid_text.isdigit():
            return
        cmdline = Path(f"/proc/{pid_text}/cmdline")
        if not Path("/proc/self").exists():
            return  # no procfs: trust pg_ctl
        try:
            argv0 = cmdline.read_bytes().split(b"\0", 1)[0]
        except FileNotFoundError:
            return  # process gone: the postmaster itself recovers from this
        if not os.path.basename(argv0).startswith(b"postgres"):
            log.warning("embedded_pg.stale_pidfile", data_dir=str(self.data_dir), pid=int(pid_text))
            (self.data_dir / "postmaster.pid").unlink()

    def _pidfile_line(self, index: int) -> str | None:
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except FileNotFoundError:
            return None
        return lines[index].strip() if len(lines) > index else None

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def _run(self, args: list[str], *, what: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        owner = _server_owner()
        user_kwargs: dict[str, Any] = {}
        env = child_process_env(LC_ALL="C")
        if owner is not None:
            user_kwargs = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
            env["HOME"] = owner.pw_dir
        result = subprocess.run(
            args,
            capture_output=True,
            text=True,
            cwd="/",
            env=env,
            # Its own session: Ctrl-C in a terminal must not reach the postmaster pg_ctl spawns.
            start_new_session=True,
            check=False,
            **user_kwargs,
        )
        if check and result.returncode != 0:
            raise EmbeddedPostgresError(
                f"{what or args[0]} failed for {self.data_dir} (exit {result.returncode}):\n"
                f"{result.stdout}{result.stderr}"
            )
        return result


def _server_owner() -> pwd.struct_passwd | None:
    """The OS user the server runs as when we are root (created if missing); None otherwise."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_OS_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_OS_USER],
            check=True,
            capture_output=True,
        )
        log.info("embedded_pg.os_user_created", user=SERVER_OS_USER)
        return pwd.getpwnam(SERVER_OS_USER)


def _check_traversable(folder: Path, owner: pwd.struct_passwd) -> None:
    """Fail with the folder named when `owner` cannot reach the data dir through `folder`."""
    groups = set(os.getgrouplist(owner.pw_name, owner.pw_gid))
    for part in [folder, *folder.parents]:
        st = part.stat()
        if st.st_uid == owner.pw_uid:
            ok = bool(st.st_mode & stat.S_IXUSR)
        elif st.st_gid in groups:
            ok = bool(st.st_mode & stat.S_IXGRP)
        else:
            ok = bool(st.st_mode & stat.S_IXOTH)
        if not ok:
            try:
                group = grp.getgrgid(st.st_gid).gr_name
            except KeyError:
                group = str(st.st_gid)
            raise EmbeddedPostgresError(
                f"the Postgres server runs as OS user {owner.pw_name!r} and cannot enter {part} "
                f"(owner uid {st.st_uid}, group {group}, mode {stat.filemode(st.st_mode)}); "
                f"run `chmod o+x {part}` or set CODESIGHT_HOME to a folder it can reach"
            )


def database_url(settings: Settings) -> str:
    """The database CodeSight uses: `settings.database_url`, else the embedded cluster's (not started here)."""
    if settings.database_url:
        return settings.database_url
    return EmbeddedPostgres.from_settings(settings).url

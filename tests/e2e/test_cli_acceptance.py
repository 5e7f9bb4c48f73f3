"""Acceptance: the `codesight` command as a user runs it, in its own processes.

`codesight up` starts its own embedded Postgres under a fresh CODESIGHT_HOME, serves the
app and a worker; `users add`, `participants add` and `collect` talk to it; Ctrl-C stops
everything; a second `up` finds the same data.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lab.config import PROJECT_ROOT

CODESIGHT = str(Path(sys.executable).with_name("codesight"))
UP_TIMEOUT_S = 60
DONE_TIMEOUT_S = 240


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def cli_env() -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODESIGHT_")}
    # Not under pytest's tmp_path (mode 0700): the embedded server runs as `postgres` when we are root.
    home = Path(tempfile.mkdtemp(prefix="codesight-cli-"))
    home.chmod(0o755)
    env["CODESIGHT_HOME"] = str(home)
    env["CODESIGHT_EMBEDDED_PG_PORT"] = str(free_port())
    yield env
    shutil.rmtree(home, ignore_errors=True)


def run(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    done = subprocess.run([CODESIGHT, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"codesight {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout.strip().splitlines()[-1]


class Up:
    def __init__(self, env: dict[str, str], port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [CODESIGHT, "up", "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        deadline = time.monotonic() + UP_TIMEOUT_S
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                out = self.proc.stdout.read() if self.proc.stdout else ""
                raise AssertionError(f"codesight up did not come up:\n{out}")
            time.sleep(0.2)

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGINT)
        out, _ = self.proc.communicate(timeout=60)
        assert self.proc.returncode == 0, out
        return out


@pytest.fixture
def up_factory(cli_env: dict[str, str]) -> Iterator[list[Up]]:
    started: list[Up] = []
    yield started
    for up in started:
        if up.proc.poll() is None:
            up.proc.kill()
            up.proc.wait()


def wait_done(url: str, session_id: str, user_token: str) -> dict[str, object]:
    deadline = time.monotonic() + DONE_TIMEOUT_S
    while True:
        body: dict[str, object] = httpx.get(
            f"{url}/api/v1/sessions/{session_id}", headers={"Authorization": f"Bearer {user_token}"}
        ).json()
        if body["status"] in ("done", "failed") or time.monotonic() > deadline:
            return body
        time.sleep(0.5)


def test_up_collect_stop_and_up_again_keeps_the_data(cli_env: dict[str, str], up_factory: list[Up]) -> None:
    port = free_port()
    up = Up(cli_env, port)
    up_factory.append(up)
    user_token = run(cli_env, "users", "add", "alice", "--role", "admin")
    participant_token = run(cli_env, "participants", "add", "robot")
    assert user_token.startswith("csu_") and participant_token.startswith("csp_")

    session_id = run(
        cli_env, "collect", "--site", str(PROJECT_ROOT / "fixtures/sites/shop"), "--server", up.url,
        "--token", participant_token, timeout=180,
    )  # fmt: skip
    collected = time.monotonic()
    body = wait_done(up.url, session_id, user_token)
    print(f"collect returned → status done in {time.monotonic() - collected:.1f} s")
    assert body["status"] == "done", body
    assert body["mode"] == "automated"

    rows = httpx.get(f"{up.url}/sessions/rows", cookies={"codesight_token": user_token}).text
    assert session_id[:8] in rows and rows.count(">done<") == 5, "the live table shows every step done"

    out = up.stop()
    assert "CodeSight stopped." in out
    pg_dir = Path(cli_env["CODESIGHT_HOME"]) / "postgres"
    assert not (pg_dir / "postmaster.pid").exists(), "Ctrl-C stops the embedded Postgres too"

    again = Up(cli_env, port)
    up_factory.append(again)
    r = httpx.get(f"{again.url}/api/v1/sessions/{session_id}", headers={"Authorization": f"Bearer {user_token}"})
    assert r.status_code == 200 and r.json()["status"] == "done", "a second `up` reuses the data"
    again.stop()


def test_users_add_refuses_an_unknown_role(cli_env: dict[str, str]) -> None:
    done = subprocess.run(
        [CODESIGHT, "users", "add", "bob", "--role", "wizard"], env=cli_env, capture_output=True, text=True, check=False
    )
    assert done.returncode != 0 and "role" in done.stderr

"""A real ``iop serve`` in a subprocess on a free loopback port, and the real CLI beside it.

``Runner`` is the installed ``iop`` on one database with a settings file of its own
(``--config``): ``init``, ``token create`` and ``role grant`` before (or while) the
server runs. ``serving(runner)`` starts ``python -m iop_workflow --db URL --config FILE
serve --port N`` (N picked free first: uvicorn does not tell the port it got for 0),
waits until ``/healthz`` answers (a bounded loop of short timeouts, no sleep), yields a
``Served`` with its URL and log, and stops it with SIGTERM, asserting it exited cleanly.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from iop_workflow import Iop
from iop_workflow.clock import Clock
from iop_workflow.settings import load_settings
from tests.cli_helpers import Backend, make_backend
from tests.pg import PG_URL

IOP = [sys.executable, "-m", "iop_workflow"]
START_SECONDS = 15.0
STOP_SECONDS = 15.0
# The PostgreSQL half is slow, as everywhere (tests/conftest.py): the fast loop runs the SQLite half.
BACKENDS = ["sqlite", pytest.param("postgresql", marks=[pytest.mark.postgres, pytest.mark.slow])]
# Tables a refused request must leave as they were.
FACT_TABLES = (
    "meetings",
    "assessments",
    "legal_checks",
    "agreements",
    "contributions",
    "decisions",
    "reviews",
    "corrections",
    "retractions",
)
WRITTEN_TABLES = (
    "transition_log",
    "cases",
    "organisations",
    "grants",
    "api_tokens",
    "login_bindings",
    "alerts",
    "idempotency_keys",
    *FACT_TABLES,
)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (bound, read, closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextlib.contextmanager
def database(kind: str, tmp: Path) -> Iterator[Backend]:
    """A fresh SQLite file or PostgreSQL schema (skips, or fails in CI, without the server)."""
    yield from make_backend(kind, tmp)


def rows(backend: Backend, sql: str) -> list[tuple[Any, ...]]:
    """Raw SQL straight on the database, for snapshots the server cannot influence."""
    if backend.path is not None:
        with contextlib.closing(sqlite3.connect(backend.path)) as conn:
            return list(conn.execute(sql))
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"SET search_path TO {backend.schema}")
        return list(conn.execute(sql))  # type: ignore[arg-type]


def counts(backend: Backend, tables: tuple[str, ...] = WRITTEN_TABLES) -> dict[str, int]:
    """Row count of each table, in one query."""
    counted = ", ".join(f"(SELECT count(*) FROM {t})" for t in tables)
    return dict(zip(tables, (int(n) for n in rows(backend, f"SELECT {counted}")[0]), strict=True))


def log_count(backend: Backend) -> int:
    return int(rows(backend, "SELECT count(*) FROM transition_log")[0][0])


@dataclass
class Runner:
    """The real ``iop`` on one database, with its own HOME, data directory and settings file."""

    backend: Backend
    tmp: Path
    config_text: str = ""
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tmp.mkdir(parents=True, exist_ok=True)
        (self.tmp / "home").mkdir(exist_ok=True)
        self.config = self.tmp / "iop-server.toml"
        self.config.write_text(self.config_text, encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("IOP_")}
        env.update(
            HOME=str(self.tmp / "home"),
            XDG_DATA_HOME=str(self.tmp / "data"),
            XDG_CONFIG_HOME=str(self.tmp / "config"),
            PYTHONUTF8="1",
            no_proxy="127.0.0.1,localhost",
            NO_PROXY="127.0.0.1,localhost",
        )
        self.env = {**env, **self.env}

    @property
    def url(self) -> str:
        return self.backend.url

    def argv(self, *args: str) -> list[str]:
        return [*IOP, "--db", self.url, "--config", str(self.config), *args]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args),
            env=self.env,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=120,
            check=False,
            cwd=self.tmp,
        )

    def ok(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = self.run(*args)
        assert done.returncode == 0, f"iop {' '.join(args)} -> {done.returncode}\n{done.stdout}{done.stderr}"
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self.ok("--json", *args).stdout)

    def token(self, name: str, roles: str, *, municipality: str | None = None, expires: str | None = None) -> Token:
        """``iop token create``: the token, shown once, with its id."""
        args = ["token", "create", "--name", name, "--roles", roles]
        args += ["--municipality", municipality] if municipality else []
        args += ["--expires", expires] if expires else []
        made = self.json(*args)
        assert made["token"].startswith("iop_")
        return Token(id=int(made["id"]), name=name, secret=made["token"], roles=tuple(made["roles"]))

    def tokens(self, wanted: Mapping[str, tuple[str, str, str | None]]) -> dict[str, Token]:
        """Several tokens (key: (name, roles, municipality)) made by the service ``token create`` calls,
        in this process: one ``iop`` start-up per token would dominate a module's set-up."""
        made: dict[str, Token] = {}
        with self.direct() as iop:
            for key, (name, roles, place) in wanted.items():
                got = iop.create_token(name=name, roles=roles.split(","), municipalities=[place] if place else [])
                made[key] = Token(id=int(got["id"]), name=name, secret=got["token"], roles=tuple(got["roles"]))
        return made

    @contextlib.contextmanager
    def direct(self, clock: Clock | None = None) -> Iterator[Iop]:
        """The same database and settings in this process, acting as the OS login (as the CLI does)."""
        settings = load_settings(self.config, environ={})
        with Iop.connect(self.url, settings=settings, clock=clock, audit_log=False, source="cli") as iop:
            yield iop

    def all_ok(self, *commands: Sequence[str]) -> None:
        """Several ``iop`` commands at once (independent ones: the database serialises their writes)."""
        with ThreadPoolExecutor(max_workers=len(commands) or 1) as pool:
            for done in [pool.submit(self.ok, *command) for command in commands]:
                done.result()

    def grant(self, login: str, role: str, municipality: str | None = None) -> None:
        self.ok("role", "grant", login, role, *(["--municipality", municipality] if municipality else []))


@dataclass(frozen=True)
class Token:
    id: int
    name: str
    secret: str
    roles: tuple[str, ...]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}


@dataclass
class Served:
    """A running ``iop serve``: where it listens and what it logged."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def client(
        self,
        token: Token | str | None = None,
        *,
        local_address: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Client:
        """An httpx client on the server (no proxies from the environment), bearing ``token``."""
        base: dict[str, str] = {}
        if token is not None:
            base["Authorization"] = f"Bearer {token.secret if isinstance(token, Token) else token}"
        transport = httpx.HTTPTransport(local_address=local_address) if local_address else None
        return httpx.Client(
            base_url=self.url, headers={**base, **(headers or {})}, timeout=30.0, trust_env=False, transport=transport
        )


def wait_healthy(url: str, process: subprocess.Popen[bytes], log_path: Path, seconds: float = START_SECONDS) -> None:
    """Until ``/healthz`` answers 200: a bounded loop; between tries it waits on the process (did it die?)."""
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=0.5, trust_env=False) as client:
        while time.monotonic() < deadline:
            try:
                if client.get(f"{url}/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            with contextlib.suppress(subprocess.TimeoutExpired):
                status = process.wait(timeout=0.05)
                pytest.fail(f"iop serve exited with {status} before answering:\n{log_path.read_text()}")
    process.kill()
    process.wait()
    pytest.fail(f"iop serve did not answer /healthz within {seconds} s:\n{log_path.read_text()}")


@contextlib.contextmanager
def serving(runner: Runner, *args: str) -> Iterator[Served]:
    """``iop serve --port N`` on 127.0.0.1 until the block ends; then SIGTERM, and it must have stopped on it."""
    port = free_port()
    log_path = runner.tmp / f"serve-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            runner.argv("serve", "--host", "127.0.0.1", "--port", str(port), *args),
            env=runner.env,
            stdout=log,
            stderr=log,
            cwd=runner.tmp,
        )
    served = Served(f"http://127.0.0.1:{port}", process, log_path)
    try:
        wait_healthy(served.url, process, log_path)
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            status = process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            pytest.fail(f"iop serve ignored SIGTERM for {STOP_SECONDS} s:\n{served.log()}")
        # uvicorn shuts down gracefully, then re-raises the signal: the exit status says SIGTERM.
        assert status in {0, -signal.SIGTERM}, f"iop serve exited with {status} on SIGTERM:\n{served.log()}"
        assert "Traceback" not in served.log(), served.log()


def problem(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is ``status`` as application/problem+json (with ``code``); its body."""
    assert response.status_code == status, f"{response.status_code} != {status}: {response.text}"
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status and "code" in body and "Traceback" not in response.text
    if code is not None:
        assert body["code"] == code, body
    return body

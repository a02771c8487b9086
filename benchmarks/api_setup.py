"""The world of benchmarks/api.py: identical databases full of cases, the workload, and a real ``iop serve``.

One template database per back-end is built through the public API (tests/helpers.py brings the
cases to their states) and copied byte for byte, so the HTTP side and the in-process side start
from identical data: SQLite with the online backup API, PostgreSQL with CREATE DATABASE ... TEMPLATE.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import psycopg
import sqlalchemy as sa

from benchmarks.harness import free_port
from iop_workflow import Iop
from iop_workflow.settings import Settings, load_settings
from tests.helpers import add_orgs, open_case, prepare_signing, to_assessment

REASON = "Underlaget behöver kompletteras"
JOINT_CHALLENGE = "Skydd och stöd för våldsutsatta kvinnor"
# Per case, in this order. A fresh case (state initiative) goes round the dialogue/assessment cycle;
# every SIGN_EVERY-th case starts in assessment with every fact signing needs already recorded
# (assessed by anna, decision by eva) and is returned, resubmitted and signed by the client.
CYCLE = (
    "start_dialogue",
    "record_meeting",
    "submit_for_assessment",
    "return_to_dialogue",
    "submit_for_assessment",
    "return_to_dialogue",
    "submit_for_assessment",
)
SIGNING = ("return_to_dialogue", "submit_for_assessment", "sign")
SIGN_EVERY = 4
MIX = (
    f"per client, its own cases in turn; 1 case in {SIGN_EVERY}: {' -> '.join(SIGNING)} (from assessment, "
    f"all signing facts recorded beforehand); the others: {' -> '.join(CYCLE)} (from initiative)"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    ref: str
    version: int  # the ETag the client starts from
    steps: tuple[str, ...]


Batch = list[list[Case]]  # one list of cases per client


def client_name(i: int) -> str:
    return f"bench{i}"


def settings() -> Settings:
    """The shipped settings, with the tests' roles imported at init (tests/conftest.py)."""
    return replace(
        load_settings(),
        default_roles=frozenset({"registrar", "officer"}),
        actors={
            "anna": frozenset({"officer"}),
            "eva": frozenset({"signatory"}),
            "lars": frozenset({"legal"}),
            "kim": frozenset({"coordinator"}),
        },
    )


def principals(iop: Iop, clients: int) -> list[str]:
    """Client i: login bench<i> (in process) and token bench<i> (HTTP), each officer and signatory."""
    tokens = []
    for i in range(clients):
        iop.grant(client_name(i), "signatory")
        tokens.append(iop.create_token(name=client_name(i), roles=["officer", "signatory"])["token"])
    return tokens


def make_case(iop: Iop, sign: bool) -> Case:
    if sign:
        ref = to_assessment(iop)
        prepare_signing(iop, ref)
    else:
        ref = open_case(iop)
    return Case(ref=ref, version=int(iop.case(ref)["version"]), steps=SIGNING if sign else CYCLE)


def make_batch(iop: Iop, clients: int, per_client: int) -> Batch:
    return [[make_case(iop, j % SIGN_EVERY == 0) for j in range(per_client)] for _ in range(clients)]


def populate(iop: Iop, max_clients: int) -> list[str]:
    """Schema, organisations, the clients' principals; their tokens."""
    iop.init()
    add_orgs(iop)
    return principals(iop, max_clients)


# --------------------------------------------------------------------------- databases


@dataclass(slots=True, kw_only=True)
class Pair:
    """A back-end's template and its two copies (HTTP side ``a``, in-process side ``b``)."""

    backend: str
    template: str
    a: str
    b: str
    audit_a: Path  # where the server's default stream goes
    audit_b: Path  # the in-process side's stream: where its default would go
    xdg_a: Path  # the server's XDG_DATA_HOME: its default stream on PostgreSQL goes there
    admin_url: str = ""


def sqlite_pair(workdir: Path) -> Pair:
    def url(name: str) -> str:
        return f"sqlite:///{workdir / f'sqlite-{name}.db'}"

    return Pair(
        backend="sqlite",
        template=url("template"),
        a=url("http"),
        b=url("inprocess"),
        audit_a=workdir / "sqlite-http.audit.jsonl",
        audit_b=workdir / "sqlite-inprocess.audit.jsonl",
        xdg_a=workdir / "xdg-http",
    )


def pg_pair(workdir: Path, admin_url: str) -> Pair:
    tag = uuid.uuid4().hex[:10]
    base = sa.make_url(admin_url)

    def url(name: str) -> str:
        return base.set(database=f"iopbench_{tag}_{name}").render_as_string(hide_password=False)

    return Pair(
        backend="postgresql",
        template=url("template"),
        a=url("http"),
        b=url("inprocess"),
        audit_a=workdir / "xdg-http" / "iop-workflow" / "audit.jsonl",
        audit_b=workdir / "xdg-inprocess" / "iop-workflow" / "audit.jsonl",
        xdg_a=workdir / "xdg-http",
        admin_url=admin_url,
    )


def _database(url: str) -> str:
    name = sa.make_url(url).database
    assert name and name.isidentifier()
    return name


def create_template(pair: Pair) -> None:
    if pair.backend == "postgresql":
        with psycopg.connect(pair.admin_url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {_database(pair.template)}")


def copy_template(pair: Pair) -> None:
    """Two byte-identical copies of the (closed) template."""
    if pair.backend == "sqlite":
        with sqlite3.connect(_path(pair.template)) as source:
            for url in (pair.a, pair.b):
                with sqlite3.connect(_path(url)) as target:
                    source.backup(target)
                target.close()
        source.close()
        return
    with psycopg.connect(pair.admin_url, autocommit=True) as conn:
        for url in (pair.a, pair.b):
            conn.execute(f"CREATE DATABASE {_database(url)} TEMPLATE {_database(pair.template)}")


def drop(pair: Pair) -> None:
    if pair.backend != "postgresql":
        return
    with psycopg.connect(pair.admin_url, autocommit=True) as conn:
        for url in (pair.template, pair.a, pair.b):
            conn.execute(f"DROP DATABASE IF EXISTS {_database(url)} WITH (FORCE)")


def _path(url: str) -> str:
    return url.removeprefix("sqlite:///")


# --------------------------------------------------------------------------- the server


class Server:
    """``python -m iop_workflow --db URL serve --port N`` as users run it, on a free loopback port."""

    def __init__(self, url: str, workdir: Path, name: str, xdg: Path) -> None:
        self.url, self.xdg = url, xdg
        self.log = workdir / f"{name}-server.log"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc is not None else 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        """Start the process; :meth:`wait_ready` waits for it to answer."""
        self.port = free_port()
        env = {**os.environ, "XDG_DATA_HOME": str(self.xdg)}
        argv = [sys.executable, "-m", "iop_workflow", "--db", self.url, "serve", "--port", str(self.port)]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=log)
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"iop serve exited ({self.proc.returncode}): {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise SystemExit(f"iop serve did not answer /healthz within {timeout:.0f} s")

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

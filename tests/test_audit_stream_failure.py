"""The database is the truth, the stream a copy (issue #13, item 7).

A real write failure: the audit stream's path is a symlink to ``/dev/full``, where every
write fails with ENOSPC (root ignores permission bits, a full device it cannot). The
change commits; the command exits 0 with exactly one JSON document on stdout and one
warning line on stderr; an alert goes to ``role:admin``; ``audit verify`` tells that the
stream lags; ``audit export --resync`` rewrites it so that it holds every record.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from iop_workflow import Iop
from iop_workflow.audit.sink import AuditSink, StreamFailure
from iop_workflow.settings import Settings
from tests.cli_helpers import Cli, Result
from tests.fuzz_support import InProcessCli
from tests.helpers import ORG, add_orgs

FULL = Path("/dev/full")
pytestmark = pytest.mark.skipif(not FULL.exists(), reason="needs /dev/full (Linux)")


class Stream:
    """The stream file of a CLI, which a test can point at /dev/full and back."""

    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "stream.jsonl"
        self.saved = tmp_path / "stream.saved"

    def fail(self) -> None:
        if self.path.exists() and not self.path.is_symlink():
            self.path.rename(self.saved)
        self.path.symlink_to(FULL)

    def mend(self) -> None:
        self.path.unlink()
        if self.saved.exists():
            self.saved.rename(self.path)

    def lines(self) -> list[str]:
        return self.path.read_text(encoding="utf-8").splitlines()


def run(cli: Cli, stream: Stream, *args: str) -> Result:
    return cli(*args, env={"IOP_AUDIT_LOG": str(stream.path)})


def ok(cli: Cli, stream: Stream, *args: str) -> Result:
    result = run(cli, stream, *args)
    assert result.status == 0, result.text
    assert "Traceback" not in result.text
    return result


def opened(cli: Cli, stream: Stream) -> str:
    ok(cli, stream, "init")
    ok(cli, stream, "org", "add", "--name", "Läxhjälpen", "--org-number", ORG, "--legal-form", "ideell_forening")
    return ok(
        cli,
        stream,
        "--actor",
        "anna",
        "case",
        "open",
        "--org",
        ORG,
        "--municipality",
        "Stenungsund",
        "--title",
        "Läxhjälp",
        "--challenge",
        "Barn behöver stöd med läxorna",
    ).out.strip()


def assert_committed_with_warning(result: Result, stream: Stream, *, lang: str) -> dict[str, object]:
    assert result.status == 0, result.text
    assert "Traceback" not in result.text
    document = json.loads(result.out)  # exactly one JSON document, or this raises
    warning = result.err.splitlines()
    assert len(warning) == 1, result.err
    start = "Varning: granskningsströmmen" if lang == "sv" else "Warning: the audit stream"
    assert warning[0].startswith(f"{start} {stream.path} "), warning
    assert os.strerror(28) in warning[0] and "iop audit export --resync" in warning[0]
    assert isinstance(document, dict)
    return document


@pytest.fixture
def cli(tmp_path: Path) -> InProcessCli:
    return InProcessCli(tmp_path, f"sqlite:///{tmp_path / 'iop.db'}")


def test_a_full_stream_disk_is_a_warning_and_an_alert_and_resync_mends_it(cli: InProcessCli, tmp_path: Path) -> None:
    stream = Stream(tmp_path)
    ref = opened(cli, stream)
    stream.fail()
    fired = run(cli, stream, "--json", "--actor", "anna", "case", "fire", ref, "start_dialogue")
    assert_committed_with_warning(fired, stream, lang="sv")
    assert '"dialogue"' in fired.out
    met = run(
        cli,
        stream,
        "--json",
        "--lang",
        "en",
        "--actor",
        "anna",
        "case",
        "record",
        ref,
        "meeting",
        "--held-on",
        date.today().isoformat(),
        "--joint-challenge",
        "Läxor",
    )
    assert_committed_with_warning(met, stream, lang="en")
    assert not (tmp_path / "data" / "iop-workflow" / "cli-errors.log").exists()
    stream.mend()

    history = ok(cli, stream, "--json", "case", "history", ref).json()
    assert [r["trigger"] for r in history][-2:] == ["start_dialogue", "record:meeting"]  # in the database
    alerts = [a for a in ok(cli, stream, "--json", "alerts", "list").json() if a["kind"] == "stream_write_failed"]
    assert len(alerts) == 1, alerts  # one open alert, not one per failed command
    assert alerts[0]["recipient"] == "role:admin" and str(stream.path) in alerts[0]["message"]

    lagging = ok(cli, stream, "--json", "audit", "verify").json()
    assert lagging["ok"] is True  # the log is intact; the copy lags
    assert lagging["stream"]["in_sync"] is False and lagging["stream"]["missing"] == 2
    assert "iop audit export --resync" in ok(cli, stream, "audit", "verify").out

    done = ok(cli, stream, "--json", "audit", "export", "--resync").json()
    assert done["rewritten"] is True and done["before"]["missing"] == 2 and done["kept"] is None
    assert done["after"]["in_sync"] is True
    export = ok(cli, stream, "audit", "export").out.splitlines()  # no protected organisation: nothing masked
    assert stream.lines() == export  # every record, once, in seq order, byte for byte
    assert stat.S_IMODE(stream.path.stat().st_mode) == 0o600
    assert not list(tmp_path.glob(".stream.jsonl.*"))  # no temporary file left
    assert ok(cli, stream, "--json", "audit", "verify").json()["stream"]["in_sync"] is True
    again = ok(cli, stream, "--json", "audit", "export", "--resync").json()
    assert again["rewritten"] is False


def test_resync_keeps_a_stream_that_holds_lines_the_log_does_not(cli: InProcessCli, tmp_path: Path) -> None:
    stream = Stream(tmp_path)
    opened(cli, stream)
    first = stream.lines()[0]
    forged = json.loads(first) | {"actor": "mallory"}
    with stream.path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(forged) + "\n" + '{"event": "transition", "seq": 9999, "hash": "x"}\n{"torn\n')
    before = stream.path.read_text(encoding="utf-8")
    status = ok(cli, stream, "--json", "audit", "verify").json()["stream"]
    assert (status["missing"], status["foreign"]) == (0, 3)
    done = ok(cli, stream, "--lang", "en", "audit", "export", "--resync").out
    assert "foreign lines: 3" in done and "The old stream was kept as" in done
    kept = list(tmp_path.glob("stream.jsonl.replaced-*"))
    assert len(kept) == 1 and kept[0].read_text(encoding="utf-8") == before
    assert stat.S_IMODE(kept[0].stat().st_mode) == 0o600
    assert ok(cli, stream, "--json", "audit", "verify").json()["stream"]["in_sync"] is True


def test_resync_is_for_admins_and_takes_no_export_options(cli: InProcessCli, tmp_path: Path) -> None:
    stream = Stream(tmp_path)
    opened(cli, stream)
    assert run(cli, stream, "--actor", "anna", "audit", "export", "--resync").status == 3
    refused = run(cli, stream, "audit", "export", "--resync", "--case", "IOP-2026-0001")
    assert refused.status == 2 and "--case" in refused.err


def test_resync_on_a_disk_still_full_leaves_the_stream_as_it_was(cli: InProcessCli, tmp_path: Path) -> None:
    stream = Stream(tmp_path)
    opened(cli, stream)
    stream.fail()
    result = run(cli, stream, "audit", "export", "--resync")
    assert result.status == 6 and "Traceback" not in result.text
    assert "inte en vanlig fil" in result.err or "ingen vanlig fil" in result.err  # /dev/full is a device
    assert stream.path.is_symlink()


def test_the_sink_never_raises_and_tells_its_listeners_once_per_outage(tmp_path: Path) -> None:
    from iop_workflow.audit.chain import LogRecord

    link = tmp_path / "s.jsonl"
    link.symlink_to(FULL)
    sink = AuditSink(link)
    heard: list[StreamFailure] = []
    sink.listeners.append(heard.append)
    sink.listeners.append(lambda _f: (_ for _ in ()).throw(RuntimeError("a listener that fails")))
    record = LogRecord(
        case_ref="IOP-2026-0001",
        case_seq=1,
        at="2026-01-12T08:00:00.000000Z",
        actor="anna",
        os_user="anna",
        roles=("officer",),
        source="cli",
        trigger="open",
        from_state=None,
        to_state="initiative",
        reason=None,
        data={},
        guideline_ref=None,
        workflow_version="v",
        prev_hash="0" * 64,
        hash="1" * 64,
        seq=7,
    )
    sink.emit(record)
    sink.emit(record)
    assert [(f.seq, f.first) for f in heard] == [(7, True), (7, False)]
    assert heard[0].error == os.strerror(28)
    sink.close()  # nothing buffered: closing cannot fail either
    link.unlink()
    sink.emit(record)  # the path names a new file now: reopened, written
    assert len(link.read_text(encoding="utf-8").splitlines()) == 1
    sink.emit(record)
    assert len(sink.failures) == 2


def test_an_alert_that_cannot_be_written_does_not_fail_the_command(
    cli: InProcessCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from iop_workflow.service import stream as service

    stream = Stream(tmp_path)
    ref = opened(cli, stream)

    def broken(*_args: object) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(service, "record_failure", broken)
    stream.fail()
    fired = run(cli, stream, "--json", "--actor", "anna", "case", "fire", ref, "start_dialogue")
    assert_committed_with_warning(fired, stream, lang="sv")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Iop, TestClient, Stream]]:
    stream = Stream(tmp_path)
    settings = Settings(actors={"anna": frozenset({"registrar", "officer"})})
    with Iop.connect(f"sqlite:///{tmp_path / 'iop.db'}", settings=settings, audit_log=stream.path) as iop:
        iop.init()
        add_orgs(iop)
        token = iop.create_token(name="desk", roles=["registrar", "officer"], municipalities=["Stenungsund"])
        from iop_workflow.server.app import create_app

        with TestClient(create_app(iop), headers={"Authorization": f"Bearer {token['token']}"}) as client:
            yield iop, client, stream


class Logged:
    """Stands in for the server's structlog logger (bound to the stderr of import time)."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, object]]] = []

    def __getattr__(self, level: str) -> object:
        return lambda event, **fields: self.lines.append((level, event, fields))


def test_the_server_answers_success_and_logs_a_warning(
    served: tuple[Iop, TestClient, Stream], monkeypatch: pytest.MonkeyPatch
) -> None:
    from iop_workflow.server import app as server_app

    iop, client, stream = served
    log = Logged()
    monkeypatch.setattr(server_app, "log", log)
    stream.fail()
    body = {"org_number": ORG, "municipality": "Stenungsund", "title": "Mötesplats", "challenge": "Ensamhet"}
    response = client.post("/v1/cases", json=body)
    assert response.status_code == 201, response.text
    ref = response.json()["ref"]
    logged = [(level, fields) for level, event, fields in log.lines if event == "audit_stream_write_failed"]
    assert logged == [("warning", {"path": str(stream.path), "error": os.strerror(28), "seq": logged[0][1]["seq"]})]
    assert iop.history(ref)[-1]["trigger"] == "open"
    assert [a["kind"] for a in iop.alerts()] == ["stream_write_failed"]
    stream.mend()
    assert iop.stream_status().missing == 1


@pytest.mark.slow
def test_the_real_process_exits_0_with_one_json_document(tmp_path: Path) -> None:
    """The issue's case through the real ``iop``: before, exit 1 and a second (error) document on stdout."""
    cli = Cli(tmp_path, f"sqlite:///{tmp_path / 'iop.db'}")
    stream = Stream(tmp_path)
    ref = opened(cli, stream)
    stream.fail()
    fired = run(cli, stream, "--json", "--actor", "anna", "case", "fire", ref, "start_dialogue")
    assert_committed_with_warning(fired, stream, lang="sv")
    assert ref in fired.out and '"dialogue"' in fired.out
    stream.mend()
    assert ok(cli, stream, "--json", "case", "show", ref).json()["state"] == "dialogue"
    assert ok(cli, stream, "--json", "audit", "export", "--resync").json()["after"]["in_sync"] is True

"""``iop audit``: verify, checkpoint, export."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import IO, Any

import click

from iop_workflow.cli.context import State, emit_json, output_file, pass_state
from iop_workflow.errors import EXIT_INTEGRITY
from iop_workflow.files import replaced

PROGRESS_FROM = 10_000  # records: below this an export is quick and needs no progress line


@click.group()
def audit() -> None:
    """The hash-chained transition log: verify, checkpoint, export."""


@audit.command("verify")
@click.option("--case", "case_ref", metavar="REF", help="Only this case's chain (checkpoints are checked too).")
@click.option("--digest", metavar="HEX", help="A checkpoint digest kept outside the database: it must still match.")
@click.option(
    "--authenticated-since",
    "since",
    metavar="DATE",
    help="Also list records from DATE on whose actor the server did not authenticate (local mode).",
)
@pass_state
def audit_verify(state: State, /, *, case_ref: str | None, digest: str | None, since: str | None) -> None:
    """Recompute every chain and checkpoint; exit 7 and name the first bad record of each broken chain."""
    report = state.iop.verify(case=case_ref, digest=digest, authenticated_since=since).as_dict()
    if case_ref is None:
        report["stream"] = _stream_status(state)
    if state.json:
        emit_json(report)
    elif report["ok"]:
        click.echo(
            state.say(
                f"Granskningsloggen är intakt: {report['cases']} ärenden, {report['records']} poster, "
                f"{report['checkpoints']} kontrollpunkter.",
                f"The audit log is intact: {report['cases']} cases, {report['records']} records, "
                f"{report['checkpoints']} checkpoints.",
            )
        )
        _warnings(state, report)
        if digest is not None:
            seq = report["digest"]["checkpoint"]
            click.echo(
                state.say(f"Kontrollsumman stämmer med kontrollpunkt {seq}.", f"The digest matches checkpoint {seq}.")
            )
    else:
        _problems(state, report)
    if not state.json and report.get("stream") is not None:
        _stream_lines(state, report["stream"])
    if not state.json and report.get("unauthenticated") is not None:
        _unauthenticated(state, report["unauthenticated"], since)
    if not report["ok"]:
        raise click.exceptions.Exit(EXIT_INTEGRITY)


def _stream_status(state: State) -> dict[str, Any] | None:
    """The audit stream against the log (a copy: a lag is reported, never an integrity failure)."""
    from iop_workflow.errors import IopError  # noqa: PLC0415

    if state.iop.app.sink.path is None:
        return None
    try:
        return state.iop.stream_status().as_dict()
    except IopError as exc:  # e.g. the configured stream is not a regular file
        return {"path": str(state.iop.app.sink.path), "in_sync": False, "error": exc.message(state.lang)}


def _stream_lines(state: State, stream: dict[str, Any]) -> None:
    if stream.get("error"):
        click.echo(
            state.say(
                f"Granskningsströmmen kunde inte jämföras: {stream['error']}",
                f"The audit stream could not be compared: {stream['error']}",
            )
        )
    elif not stream["in_sync"]:
        click.echo(
            state.say(
                f"Granskningsströmmen {stream['path']} är inte i takt med databasen: {stream['missing']} av "
                f"{stream['records']} poster saknas, {stream['foreign']} rader finns inte i loggen. Databasen gäller; "
                "kör `iop audit export --resync`.",
                f"The audit stream {stream['path']} is not in step with the database: {stream['missing']} of "
                f"{stream['records']} records missing, {stream['foreign']} lines not in the log. The database is the "
                "truth; run `iop audit export --resync`.",
            )
        )


def _unauthenticated(state: State, rows: list[dict[str, Any]], since: str | None) -> None:
    click.echo(
        state.say(
            f"Poster sedan {since} som servern inte autentiserade: {len(rows)}",
            f"Records since {since} the server did not authenticate: {len(rows)}",
        )
    )
    for r in rows:
        who = f"{r['actor']} ({r['method']}" + (f", {r['os_user']})" if r["os_user"] else ")")
        click.echo(f"  - {r['case_ref']} #{r['case_seq']} {r['at']} {r['trigger']}: {who}")


def _warnings(state: State, report: dict[str, Any]) -> None:
    n = len(report.get("warnings", []))
    if n:
        click.echo(
            state.say(
                f"{n} varningar (poster skrivna före kontrollen infördes):",
                f"{n} warning(s) (records written before the check began):",
            )
        )
    for w in report.get("warnings", []):
        click.echo(f"  - {w['case_ref']} #{w['case_seq']}: {w['detail']}")


def _problems(state: State, report: dict[str, Any]) -> None:
    click.echo(
        state.say(
            f"Granskningsloggen är INTE intakt: {len(report['problems'])} fel "
            f"({report['cases']} ärenden, {report['records']} poster, {report['checkpoints']} kontrollpunkter).",
            f"The audit log is NOT intact: {len(report['problems'])} problem(s) "
            f"({report['cases']} cases, {report['records']} records, {report['checkpoints']} checkpoints).",
        )
    )
    for problem in report["problems"]:
        if problem.get("case_ref"):
            where = f"{problem['case_ref']} #{problem.get('case_seq') or problem.get('seq') or '-'}"
        elif problem.get("object"):
            where = f"{state.say('schemaobjekt', 'schema object')} {problem['object']}"
        elif problem.get("guideline_ref"):
            where = f"{state.say('riktlinje', 'guideline')} {problem['guideline_ref']} v{problem.get('version')}"
        else:
            where = f"{state.say('kontrollpunkt', 'checkpoint')} {problem.get('checkpoint')}"
        field = f" [{problem['field']}]" if problem.get("field") else ""
        detail = f" ({problem['detail']})" if problem.get("detail") else ""
        click.echo(f"  - {where}{field}: {problem['problem']}{detail}")


@audit.command("checkpoint")
@pass_state
def audit_checkpoint(state: State) -> None:
    """Verify the log, then append a checkpoint over every chain head; prints its digest to file outside."""
    cp = state.iop.checkpoint(actor=state.actor).as_dict()
    if state.json:
        emit_json(cp)
        return
    click.echo(
        state.say(
            f"Kontrollpunkt {cp['seq']}: {cp['cases']} ärenden, {cp['records']} poster. Diarieför kontrollsumman:",
            f"Checkpoint {cp['seq']}: {cp['cases']} cases, {cp['records']} records. File the digest:",
        )
    )
    click.echo(cp["digest"])


@audit.command("export")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option("--since", metavar="DATE", help="From this local date (inclusive).")
@click.option("--until", metavar="DATE", help="To this local date (inclusive).")
@click.option("--case", "case_ref", metavar="REF", help="Only this case.")
@click.option("--output", metavar="FILE", help="Write to FILE (replaced whole at the end) instead of stdout.")
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@click.option("--include-protected", is_flag=True, help="Do not mask protected organisations (auditors; logged).")
@click.option(
    "--resync", is_flag=True, help="Rewrite the audit stream file from the database so it holds every record (admins)."
)
@pass_state
def audit_export(
    state: State,
    /,
    *,
    fmt: str,
    since: str | None,
    until: str | None,
    case_ref: str | None,
    output: str | None,
    force: bool,
    include_protected: bool,
    resync: bool,
) -> None:
    """Stream the log's records in seq order (JSON lines in the audit stream's shape, or CSV).

    With --resync, re-synchronise the audit stream with the database instead (see docs/integrity.md).
    """
    from iop_workflow.audit.export import csv_header, csv_line, jsonl_line  # noqa: PLC0415

    if resync:
        others = (
            ("--format", fmt != "jsonl"),
            ("--since", since),
            ("--until", until),
            ("--case", case_ref),
            ("--output", output),
            ("--include-protected", include_protected),
        )
        given = [name for name, value in others if value]
        if given:
            raise click.UsageError(f"--resync rewrites the whole stream; it takes no {', '.join(given)}")
        _resync(state)
        return
    target = output_file(state, output, force=force) if output is not None else None
    export = state.iop.export(
        since=since, until=until, case=case_ref, include_protected=include_protected, actor=state.actor
    )
    total = export.count() if sys.stderr.isatty() else None
    records = _with_progress(export, total) if total is not None and total >= PROGRESS_FROM else export
    lines: Iterable[str] = (csv_line(r) if fmt == "csv" else jsonl_line(r) + "\n" for r in records)
    header = csv_header() if fmt == "csv" else ""
    if target is None:
        _write(sys.stdout, header, lines)
        sys.stdout.flush()
        return
    with replaced(target, state.iop.app.settings.files.bits) as handle:
        count = _write(handle, header, lines)
    summary = {"output": output, "format": fmt, "records": count}
    if state.json:
        emit_json(summary)
    else:
        click.echo(state.say(f"{count} poster skrivna till {output}.", f"{count} records written to {output}."))


def _resync(state: State) -> None:
    done = state.iop.resync_stream(actor=state.actor)
    if state.json:
        emit_json(done)
        return
    before, after = done["before"], done["after"]
    if not done["rewritten"]:
        click.echo(
            state.say(
                f"Granskningsströmmen {done['stream']} är redan i takt med databasen "
                f"({after['records']} poster); inget skrevs.",
                f"The audit stream {done['stream']} is already in step with the database "
                f"({after['records']} records); nothing written.",
            )
        )
        return
    click.echo(
        state.say(
            f"Granskningsströmmen {done['stream']} är omskriven från databasen: {done['written'] + done['appended']} "
            f"poster (saknades förut: {before['missing']}, främmande rader: {before['foreign']}).",
            f"The audit stream {done['stream']} was rewritten from the database: {done['written'] + done['appended']} "
            f"records (missing before: {before['missing']}, foreign lines: {before['foreign']}).",
        )
    )
    if done["kept"]:
        click.echo(
            state.say(f"Den gamla strömmen sparades som {done['kept']}.", f"The old stream was kept as {done['kept']}.")
        )


def _write(stream: IO[str], header: str, lines: Iterable[str]) -> int:
    stream.write(header)
    count = 0
    for line in lines:
        stream.write(line)
        count += 1
    return count


def _with_progress(records: Iterable[dict[str, Any]], total: int) -> Iterable[dict[str, Any]]:
    """The records, with a progress line on stderr (only used when stderr is a terminal)."""
    for done, record in enumerate(records, start=1):
        yield record
        if done % 5000 == 0 or done == total:
            click.echo(f"\r  {done:,} / {total:,} ({100 * done // max(total, 1)} %)", err=True, nl=done == total)

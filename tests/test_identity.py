"""Identity in local mode: roles as logged grants, bootstrap, --actor only for admins, the kernel's login,
record format 2 (auth inside the hash) beside format-1 records that verify unchanged (both back-ends)."""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from iop_workflow import FakeClock, Iop
from iop_workflow.audit.chain import FORMAT_V1, GENESIS, LogRecord, seal
from iop_workflow.errors import InvalidInput
from iop_workflow.settings import Settings
from iop_workflow.store import migrate
from iop_workflow.store.cases import insert_log
from tests.cli_helpers import Backend, Cli
from tests.helpers import add_orgs, open_case

ME = pwd.getpwuid(os.getuid()).pw_name


@pytest.fixture
def cli(backend: Backend, tmp_path: Path) -> Cli:
    return Cli(tmp_path, backend.url)


def admin_chain(iop: Iop) -> list[dict[str, object]]:
    return list(iop.export(case="@admin"))


def test_init_imports_the_old_role_settings_once_and_bootstraps_the_os_login(iop: Iop) -> None:
    """The conftest settings list roles; init turned them into logged grants, then made the OS login admin."""
    grants = {(g["login"], g["role"], g["municipality"]) for g in iop.grants()}
    assert {
        ("eva", "signatory", "*"),
        ("anna", "officer", "*"),
        ("anna", "registrar", "*"),
        ("lars", "legal", "*"),
    } <= grants
    assert ("system", "system", "*") not in grants  # the scheduler's role is never granted
    assert {(ME, r, "*") for r in ("admin", "registrar", "officer", "coordinator")} <= grants
    chain = admin_chain(iop)
    assert chain[-1]["trigger"] == "admin:bootstrap" and chain[-1]["actor"] == ME
    # init's first record is the rule check's cut-over, by the product itself (run by ME); then ME's grants
    assert (chain[0]["trigger"], chain[0]["auth"]["method"], chain[0]["os_user"]) == ("admin:checks_from", "system", ME)
    assert all(r["auth"]["method"] == "local" and r["auth"]["subject"] == ME for r in chain[1:])
    again = iop.init()
    assert again["grants_imported"] == [] and again["bootstrap"]["bootstrapped"] is False
    assert admin_chain(iop) == chain  # a second init writes nothing to the administration chain
    assert iop.verify().ok


def test_grant_and_revoke_are_logged_and_need_an_admin(iop: Iop) -> None:
    granted = iop.grant("olle", "auditor", municipality="Kungälv")
    assert granted["changed"] is True
    assert iop.grant("olle", "auditor", municipality="Kungälv")["changed"] is False  # no second record
    last = admin_chain(iop)[-1]
    assert (last["trigger"], last["data"]) == (
        "admin:grant",
        {"login": "olle", "role": "auditor", "municipality": "Kungälv", "municipality_code": "1482"},
    )
    from iop_workflow.errors import InvalidInput, NotFound, NotPermitted

    with pytest.raises(NotPermitted):  # anna holds registrar and officer, not admin
        iop.grant("olle", "signatory", actor="anna")
    with pytest.raises(NotPermitted):  # no admin grants itself a role
        iop.grant(ME, "auditor")
    with pytest.raises(InvalidInput):
        iop.grant("olle", "system")  # the scheduler's role
    with pytest.raises(InvalidInput):
        iop.grant("olle", "superuser")
    iop.revoke("olle", "auditor", municipality="Kungälv")
    assert ("olle", "auditor") not in {(g["login"], g["role"]) for g in iop.grants()}
    with pytest.raises(NotFound):
        iop.revoke("olle", "auditor", municipality="Kungälv")
    assert iop.verify().ok


def test_a_municipality_grant_limits_what_the_actor_sees_and_does(iop: Iop) -> None:
    add_orgs(iop)
    ref = open_case(iop, "Mark")
    iop.grant("ulla", "officer", municipality="Kungälv")
    from iop_workflow.errors import NotFound

    ulla = iop.actor("ulla")
    assert ulla.covers("1482") and not ulla.covers("1463")  # grants hold SCB codes (Kungälv, Mark)
    with pytest.raises(NotFound):
        iop.fire(ref, "start_dialogue", actor=ulla)
    with pytest.raises(NotFound):
        iop.options(ref, actor=ulla)
    assert iop.case(ref)["version"] == 1  # nothing written


def test_admin_fires_no_workflow_trigger(iop: Iop) -> None:
    add_orgs(iop)
    ref = open_case(iop)
    iop.grant("adam", "admin")
    from iop_workflow.errors import TransitionNotAllowed

    with pytest.raises(TransitionNotAllowed) as refused:
        iop.fire(ref, "start_dialogue", actor="adam")
    assert [r.code for r in refused.value.reasons] == ["role_not_allowed"]
    assert all("admin" not in t.roles for t in iop.app.definition.transitions)


def test_records_carry_how_the_actor_was_established(iop: Iop) -> None:
    add_orgs(iop)
    ref = open_case(iop)  # as anna, asserted by the OS login (an admin)
    mine = iop.fire(ref, "start_dialogue")  # the OS login itself
    history = iop.history(ref)
    assert history[0]["auth"] == {"method": "local-asserted", "issuer": None, "subject": ME, "token_id": None}
    assert (history[0]["actor"], history[0]["os_user"], history[0]["format"]) == ("anna", ME, 2)
    assert mine["auth"]["method"] == "local" and mine["actor"] == ME and mine["os_user"] is None
    unproven = iop.verify(authenticated_since=iop.app.clock.today()).as_dict()["unauthenticated"]
    assert {(r["case_ref"], r["method"]) for r in unproven} >= {(ref, "local-asserted"), (ref, "local")}


def test_tampering_with_auth_breaks_the_hash(iop: Iop) -> None:
    add_orgs(iop)
    ref = open_case(iop)
    with iop.app.db.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("DROP TRIGGER transition_log_no_update")
        else:
            conn.exec_driver_sql("ALTER TABLE transition_log DISABLE TRIGGER USER")
        conn.execute(
            sa.text("UPDATE transition_log SET auth = :a WHERE case_ref = :r"),
            {"a": json.dumps({"issuer": "https://idp", "method": "oidc", "subject": "x", "token_id": None}), "r": ref},
        )
    problems = iop.verify().problems
    assert [(p["case_ref"], p["field"]) for p in problems if p["field"] != "schema"] == [(ref, "hash")]
    guards = {p["problem"] for p in problems if p["field"] == "schema"}  # the guard dropped or disabled, too
    assert guards == {
        "schema_object_missing" if iop.app.db.engine.dialect.name == "sqlite" else "schema_object_changed"
    }


def test_format_1_records_of_the_previous_release_verify_unchanged(
    db_url: str, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    """A log written before record format 2 (schema 0003) verifies after the upgrade, beside new records."""
    with Iop.connect(db_url, clock=clock, settings=settings, audit_log=False) as iop:
        migrate.upgrade(iop.app.db, "0003")
        old = seal(
            LogRecord(
                case_ref="@legacy",
                case_seq=1,
                at="2025-06-01T10:00:00.000000Z",
                actor="anna",
                os_user=None,
                roles=("officer",),
                source="cli",
                trigger="record:note",
                from_state=None,
                to_state="x",
                reason=None,
                data={"n": 1},
                guideline_ref=None,
                workflow_version="a" * 64,
                prev_hash=GENESIS,
            )
        )
        assert old.format == FORMAT_V1 and "auth" not in old.hashed_content()
        with iop.app.db.engine.begin() as conn:
            columns = {c["name"] for c in sa.inspect(conn).get_columns("transition_log")}
            assert "auth" not in columns  # really the previous release's schema
            values = {k: v for k, v in old.hashed_content().items()}
            values.update(roles=json.dumps(values["roles"]), data=json.dumps(values["data"]), hash=old.hash)
            conn.execute(
                sa.text(
                    f"INSERT INTO transition_log ({', '.join(values)}) VALUES ({', '.join(':' + k for k in values)})"
                ),
                values,
            )
        iop.init()
        add_orgs(iop)
        open_case(iop)
        report = iop.verify()
        assert report.ok, report.problems
        legacy = list(iop.export(case="@legacy"))
        assert legacy[0]["hash"] == old.hash and "format" not in legacy[0] and "auth" not in legacy[0]
        unproven = iop.verify(authenticated_since=date(2025, 1, 1)).as_dict()["unauthenticated"]
        assert unproven[0]["method"] == "(format 1: not recorded)"


def test_insert_log_writes_format_2_as_the_product_does(iop: Iop) -> None:
    """The known-answer shape: a format-2 record's hash covers auth and format (changing either shows)."""
    rec = seal(
        LogRecord(
            case_ref="@probe",
            case_seq=1,
            at="2026-01-12T08:00:00.000000Z",
            actor="anna",
            os_user=None,
            roles=("officer",),
            source="api",
            trigger="record:note",
            from_state=None,
            to_state="x",
            reason=None,
            data={},
            guideline_ref=None,
            workflow_version="a" * 64,
            prev_hash=GENESIS,
            auth={"method": "token", "issuer": None, "subject": None, "token_id": 7},
            format=2,
        )
    )
    canonical = (
        '{"actor":"anna","at":"2026-01-12T08:00:00.000000Z","auth":{"issuer":null,"method":"token","subject":null,'
        '"token_id":7},"case_ref":"@probe","case_seq":1,"data":{},"format":2,"from_state":null,"guideline_ref":null,'
        '"os_user":null,"prev_hash":"' + "0" * 64 + '","reason":null,"roles":["officer"],"source":"api","to_state":"x",'
        '"trigger":"record:note","workflow_version":"' + "a" * 64 + '"}'
    )
    assert hashlib.sha256(canonical.encode()).hexdigest() == rec.hash
    assert rec.hash == "fdcc22c858d6a19147d7a16faeb33ce61366f0baa1a61d0f8a997b50a5239d9e"
    with iop.app.db.write() as s:
        insert_log(s, rec)
    # The chain verifies; no such chain is one the product writes, which the rule check names.
    assert [(p["field"], p["detail"]) for p in iop.verify().problems] == [("rule", "no chain @probe exists")]


def test_the_cli_acts_as_another_login_only_for_an_admin(cli: Cli) -> None:
    cli.ok("init")
    cli.sh_ok("role grant adam admin")
    cli.sh_ok("--actor adam role revoke root admin".replace("root", ME))  # the OS login is no admin now
    refused = cli("--actor", "anna", "org", "list")
    assert refused.status == 3 and "--actor" in refused.err and "iop role grant" in refused.err
    refused_json = cli("--json", "--actor", "anna", "org", "list")
    assert refused_json.json()["error"]["code"] == "not_permitted"
    boot = cli.ok("--json", "role", "bootstrap").json()  # whoever holds the database can, logged
    assert boot["login"] == ME and boot["roles"] == ["admin"]
    assert cli("--actor", "anna", "org", "list").status == 0
    chain = [r["trigger"] for r in map(json.loads, cli.ok("audit", "export", "--case", "@admin").out.splitlines())]
    assert chain[-3:] == ["admin:grant", "admin:revoke", "admin:bootstrap"]


def test_the_recorded_os_user_comes_from_the_kernel_not_the_environment(cli: Cli) -> None:
    cli.ok("init")
    cli.sh_ok("org add --name 'Läxhjälpen' --org-number 802479-1322 --legal-form ideell_forening")
    spoof = {"LOGNAME": "anna", "USER": "anna", "HOME": "/home/anna", "LNAME": "anna", "USERNAME": "anna"}
    ref = cli.sh_ok(
        "--actor eva.lind case open --org 802479-1322 --municipality Kungälv --title T --challenge C", env=spoof
    ).out.strip()
    record = cli.ok("--json", "case", "history", ref).json()[0]
    assert (record["actor"], record["os_user"]) == ("eva.lind", ME)
    assert record["auth"] == {"method": "local-asserted", "issuer": None, "subject": ME, "token_id": None}


def test_role_and_token_commands_and_their_json_shapes(cli: Cli) -> None:
    cli.ok("init")
    cli.sh_ok("role grant revisor auditor --municipality Kungälv")
    rows = cli.ok("--json", "role", "list", "revisor").json()
    assert [{k: r[k] for k in ("login", "role", "municipality", "granted_by")} for r in rows] == [
        {"login": "revisor", "role": "auditor", "municipality": "Kungälv", "granted_by": ME}
    ]
    assert set(rows[0]) == {"login", "role", "municipality", "municipality_code", "granted_by", "granted_at"}
    assert rows[0]["municipality_code"] == "1482"
    made = cli.ok(
        "--json",
        "token",
        "create",
        "--name",
        "diariet",
        "--roles",
        "registrar,officer",
        "--municipality",
        "Kungälv",
        "--expires",
        "2099-12-31",
    ).json()
    assert set(made) == {"id", "name", "token", "roles", "municipalities", "municipality_codes", "expires"}
    assert (made["municipalities"], made["municipality_codes"]) == (["Kungälv"], ["1482"])
    assert made["token"].startswith("iop_") and made["roles"] == ["officer", "registrar"]
    listed = cli.ok("--json", "token", "list").json()
    assert set(listed[0]) >= {"id", "name", "roles", "municipalities", "expires", "revoked", "last_used"}
    assert "token" not in listed[0] and listed[0]["revoked"] is False
    assert made["token"] not in cli.ok("audit", "export").out  # only its hash is kept and logged
    cli.ok("token", "revoke", str(made["id"]))
    assert cli.ok("--json", "token", "list").json()[0]["revoked"] is True
    assert cli("token", "create", "--name", "x", "--roles", "superuser").status == 6
    assert cli("token", "revoke", "999").status == 4
    assert cli("--actor", "anna", "token", "list").status == 0  # listing is harmless; creating is not:
    assert cli("--actor", "anna", "token", "create", "--name", "y", "--roles", "officer").status == 3


def test_idempotency_keys_are_kept_their_hours_then_forgotten(iop: Iop) -> None:
    """A replay within [server] idempotency_hours is answered from the store; a key older is purged."""
    from datetime import timedelta

    from fastapi.testclient import TestClient

    from iop_workflow.server.app import create_app
    from iop_workflow.store.identity import IDEMPOTENCY

    token = iop.create_token(name="keys", roles=["registrar", "officer"])["token"]
    client = TestClient(create_app(iop))
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "k-1"}
    org = {"name": "Läxhjälpen", "org_number": "802500-1119", "legal_form": "ideell_forening"}
    assert client.post("/v1/organisations", headers=headers, json=org).status_code == 201
    clock = iop.app.clock
    clock.advance(timedelta(hours=23))  # type: ignore[attr-defined]
    again = client.post("/v1/organisations", headers=headers, json=org)
    assert again.headers["Idempotent-Replayed"] == "true"
    clock.advance(timedelta(hours=2))  # type: ignore[attr-defined]
    other = {**headers, "Idempotency-Key": "k-2"}
    client.post("/v1/organisations", headers=other, json={**org, "org_number": "802014-5671"})
    with iop.app.db.read() as s:
        keys = {row.key for row in s.execute(sa.select(IDEMPOTENCY.c.key))}
    assert keys == {"k-2"}  # k-1 was 25 h old at the purge


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.parametrize("what", ["grant", "token"])
def test_an_administration_that_meets_a_concurrent_one_sees_it_before_its_checks(
    what: str, pg_schema_url: str, clock: FakeClock, settings: Settings
) -> None:
    """PostgreSQL: while one grant (or token) is written and not yet committed, the same one from another
    session waits for the administration chain before it checks, so it finds the first and does not
    grant twice (``changed: false``) or fail on the token's unique name (exit 6, not a database error)."""
    with Iop.connect(pg_schema_url, clock=clock, settings=settings, audit_log=False) as iop:
        iop.init()

        def act() -> Any:
            if what == "grant":
                return iop.grant("bo", "officer", municipality="Kungälv")
            return iop.create_token(name="robot", roles=["officer"])

        outcome: list[Any] = []

        def other() -> None:
            try:
                outcome.append(act())
            except Exception as exc:  # the thread's ending, judged below
                outcome.append(exc)

        waiting = sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> :pid"
            " AND datname = current_database() AND query LIKE '%pg_advisory_xact_lock%'"
        )
        with iop.app.db.engine.connect() as watch:
            pid = watch.execute(sa.text("SELECT pg_backend_pid()")).scalar()
            with iop.app.db.write():  # the first one, open: the service joins this transaction
                first = act()
                thread = threading.Thread(target=other)
                thread.start()
                deadline = time.monotonic() + 20
                while not watch.execute(waiting, {"pid": pid}).scalar() and time.monotonic() < deadline:
                    watch.rollback()
            thread.join()
        assert len(outcome) == 1, outcome
        if what == "grant":
            assert first["changed"] is True and outcome[0]["changed"] is False, outcome
            assert len([g for g in iop.grants("bo") if g["role"] == "officer"]) == 1
        else:
            assert isinstance(outcome[0], InvalidInput) and outcome[0].exit_status == 6, outcome
            assert [t["name"] for t in iop.tokens()] == ["robot"]
        assert iop.verify().ok

"""Generated bad command lines: every command with exactly one bad value, and the statuses it may get.

The other values of a command line are valid: with them alone the command
would succeed and write (tests/test_fuzz_cli.py checks that for each template),
so a refusal can only come from the bad value, and the database must not change.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

from hypothesis import strategies as st

from iop_workflow.cli.batch import PRIORITY
from iop_workflow.cli.main import COMMANDS
from iop_workflow.domain.values import (
    END_REASONS,
    ContributionKind,
    Initiator,
    LegalForm,
    Party,
    StateAidBasis,
    Verdict,
)
from iop_workflow.resources import shipped_definition, shipped_guidelines
from tests import fuzz_strategies as bad
from tests.cli_helpers import today

REF = f"IOP-{today().year}-0001"  # the template's case, in assessment
VERSION = 4  # its version there
TRIGGERS = frozenset(shipped_definition().triggers())
# Triggers that exist but cannot fire in assessment, or not for an officer: refused (3).
BLOCKED = (
    "activate",
    "start_review",
    "continue",
    "renew",
    "end",
    "terminate",
    "expire",
    "start_dialogue",
    "sign",
    "end_by_notice",
    "rescind",
)
CRITERIA = frozenset(c.code for g in shipped_guidelines() for c in g.criteria)
TODAY = today()
VALID = {
    "actor": "anna",
    "ref": REF,
    "name": "Föreningen Fuzz",
    "orgnr": "802014-5671",
    "form": "ideell_forening",
    "email": "info@fuzz.se",
    "address": "Gatan 1",
    "org": "802479-1322",
    "mun": "Stenungsund",
    "title": "Läxhjälp",
    "challenge": "Barn behöver stöd",
    "unit": "Socialförvaltningen",
    "init": "organisation",
    "trigger": "decline",
    "reason": "Ingen budget i år",
    "version": str(VERSION),
    "end_reason": "declined",
    "crit": "not_a_company",
    "verdict": "met",
    "note": "Bedömt i dialogen",
    "day": TODAY.isoformat(),
    "text": "Anteckning",
    "party": "municipality",
    "kind": "money",
    "amount": "1500",
    "measure": "SEK",
    "start": f"{TODAY.year + 1}-01-01",
    "end": f"{TODAY.year + 2}-12-31",
    "notice": "3",
    "body": "Socialnämnden",
    "minutes": "SN § 12",
    "basis": "de_minimis",
    "entry": "3",
    "field": "held_on",
    "value": (TODAY - timedelta(days=1)).isoformat(),
}


@dataclass(frozen=True)
class BadLine:
    args: tuple[str, ...]
    allowed: frozenset[int]


Slot = tuple[st.SearchStrategy[str], frozenset[int]]
S2, S4, S6 = frozenset({2}), frozenset({4}), frozenset({6})


def text(optional: bool = False) -> Slot:
    return bad.bad_text(optional=optional), S6


def fill_template(template: tuple[str, ...], values: dict[str, str]) -> tuple[str, ...]:
    return tuple(values.get(tok[1:-1], tok) if tok[:1] == "{" and tok[-1:] == "}" else tok for tok in template)


def command(template: str, slots: dict[str, Slot]) -> st.SearchStrategy[BadLine]:
    """``template`` (words, ``{slot}`` placeholders) with one slot bad and the others valid."""
    words = tuple(template.split())

    def one(name: str) -> st.SearchStrategy[BadLine]:
        values, allowed = slots[name]
        spot = words.index("{" + name + "}")
        positional = spot == 0 or not words[spot - 1].startswith("-")

        def line(value: str) -> BadLine:
            # A positional word that starts with "-" is taken for an option: a usage error.
            dashed = positional and value.startswith("-") and len(value) > 1
            return BadLine(fill_template(words, {**VALID, name: value}), allowed | S2 if dashed else allowed)

        return values.map(line)

    return st.sampled_from(sorted(slots)).flatmap(one)


def with_globals(lines: st.SearchStrategy[BadLine]) -> st.SearchStrategy[BadLine]:
    """Prefix ``--json`` and/or ``--lang``; an argument that is not UTF-8 is refused first (6)."""
    prefix = st.tuples(st.booleans(), st.sampled_from([(), ("--lang", "en"), ("--lang", "sv")]))

    def build(line: BadLine, head: tuple[bool, tuple[str, ...]]) -> BadLine:
        args = (*(("--json",) if head[0] else ()), *head[1], *line.args)
        broken = not all(bad.is_text(arg) for arg in args)
        return BadLine(args, S6 if broken else line.allowed)

    return st.builds(build, lines, prefix)


def _choices(enum: type[Enum]) -> frozenset[str]:
    return frozenset(str(e.value) for e in enum)


# fmt: off
WRITE_SPECS: dict[str, tuple[str, dict[str, Slot]]] = {
    "org add": (
        "--actor {actor} org add --name {name} --org-number {orgnr} --legal-form {form} "
        "--contact-email {email} --address {address}",
        {"actor": (bad.bad_text(), frozenset({2, 6})), "name": text(), "orgnr": (bad.bad_org_number(), S6),
         "form": (bad.bad_choice(_choices(LegalForm)), S2), "email": text(True), "address": text(True)},
    ),
    "case open": (
        "--actor {actor} case open --org {org} --municipality {mun} --title {title} --challenge {challenge} "
        "--unit {unit} --initiated-by {init}",
        {"org": (st.one_of(bad.bad_org_number(), bad.unknown_org_number()), frozenset({4, 6})), "mun": text(),
         "title": text(), "challenge": text(), "unit": text(True), "init": (bad.bad_choice(_choices(Initiator)), S2)},
    ),
    "case fire": (
        "--actor {actor} case fire {ref} {trigger} --reason {reason} --if-version {version} --end-reason {end_reason}",
        {"actor": (bad.bad_text(), frozenset({2, 6})), "ref": (bad.unknown_ref(), frozenset({2, 4})),
         "trigger": (st.one_of(bad.bad_choice(TRIGGERS), st.sampled_from(BLOCKED)), frozenset({2, 3})),
         "reason": text(), "version": (bad.bad_whole(VERSION, VERSION), frozenset({2, 5})),
         "end_reason": (st.one_of(bad.bad_choice(frozenset(END_REASONS)), st.sampled_from(sorted(END_REASONS - {"declined"}))), frozenset({2, 6}))},
    ),
    "case assess": (
        "--actor {actor} case assess {ref} {crit} {verdict} --note {note}",
        {"crit": (st.one_of(bad.identifier_not_in(CRITERIA), bad.bad_text(), st.sampled_from(bad.SQL)), frozenset({4, 6})),
         "verdict": (bad.bad_choice(_choices(Verdict)), S2), "note": text()},
    ),
    "record meeting": (
        "--actor {actor} case record {ref} meeting --held-on {day} --joint-challenge {text} --participants {note} --notes {title}",
        {"day": (bad.bad_date(), S6), "text": text(), "note": text(True), "title": text(True)},
    ),
    "record contribution": (
        "--actor {actor} case record {ref} contribution --party {party} --kind {kind} --amount {amount} --unit {measure} --description {text}",
        {"party": (bad.bad_choice(_choices(Party)), S2), "kind": (bad.bad_choice(_choices(ContributionKind)), S2),
         "amount": (bad.bad_amount(), S6), "measure": text(), "text": text(True)},
    ),
    "record agreement": (
        "--actor {actor} case record {ref} agreement --start-on {start} --end-on {end} --notice-months {notice} --purpose {text}",
        {"start": (bad.bad_date(), S6), "end": (st.one_of(bad.bad_date(), st.integers(0, 20_000).map(
            lambda d: (TODAY.replace(year=TODAY.year + 1, month=1, day=1) - timedelta(days=d)).isoformat())), S6),
         "notice": (bad.bad_whole(0, 36), S6), "text": text(True)},
    ),
    "record decision": (
        "--actor {actor} case record {ref} decision --body {body} --decided-on {day} --minutes-ref {minutes} --delegation-ref {note}",
        # Any text that is not one of Stenungsund's decision bodies is refused (6), as the bad texts are.
        {"body": text(), "day": (bad.bad_date(), S6), "minutes": text(), "note": text(True)},
    ),
    "record legal-check": (
        "--actor lars case record {ref} legal-check --competence --procurement-not-required "
        "--no-competition-distortion --state-aid-basis {basis} --state-aid-amount-sek {amount} --rationale {text}",
        {"basis": (bad.bad_choice(_choices(StateAidBasis)), S2), "amount": (bad.bad_amount(), S6), "text": text()},
    ),
    "case correct": (
        "--actor {actor} case correct {ref} meeting {entry} --field {field} --value {value} --reason {reason}",
        {"entry": (bad.bad_whole(1, 2_000_000_000), frozenset({2, 6})), "field": (bad.identifier_not_in(frozenset({"held_on", "participants", "joint_challenge", "notes"})), S6),
         "value": (bad.bad_date(), S6), "reason": text()},
    ),
    "alerts ack": (
        "--actor {actor} alerts ack {entry}",
        {"entry": (st.one_of(bad.bad_whole(1, 2_000_000_000), st.integers(1, 2_000_000_000).map(str)), frozenset({2, 4, 6}))},
    ),
}
# fmt: on
WRITES = {name: command(*spec) for name, spec in WRITE_SPECS.items()}
TEMPLATES = {name: spec[0] for name, spec in WRITE_SPECS.items()}
# fmt: off
READS: dict[str, st.SearchStrategy[BadLine]] = {
    "case show": command("case show {ref}", {"ref": (bad.unknown_ref(), S4)}),
    "case options": command("case options {ref}", {"ref": (bad.unknown_ref(), S4)}),
    "case history": command("case history {ref}", {"ref": (bad.unknown_ref(), S4)}),
    "case list": command("case list --state {text}", {"text": (bad.bad_choice(frozenset(shipped_definition().states)), S6)}),
    "org show": command("org show {org}", {"org": (st.one_of(bad.bad_org_number(), bad.unknown_org_number()), frozenset({4, 6}))}),
    "guideline show": command("guideline show {text}", {"text": (bad.bad_choice(frozenset()), S4)}),
    "audit export": command("audit export --since {day} --until {start}", {"day": (bad.bad_date(), S6), "start": (bad.bad_date(), S6)}),
    "audit verify": command("audit verify --digest {text}", {"text": (bad.bad_choice(frozenset()).filter(str.strip), S6)}),
    "scheduler tick": command("scheduler tick --at {day}", {"day": (bad.bad_date(), S2)}),
    "scheduler plan": command("scheduler plan --until {day}", {"day": (bad.bad_date(), S2)}),
    "--lang": command("--lang {x} case list", {"x": (bad.bad_choice(frozenset({"sv", "en"})), S2)}),
    "--db": command("--db {x} case list", {"x": (bad.plain.map(lambda s: "x" + s), frozenset({8}))}),
    "--config": command("--config {x} case list", {"x": (bad.plain.map(lambda s: f"saknas/{s}.toml"), S6)}),
    "unknown option": command("{x} case list", {"x": (bad.identifier_not_in(frozenset()).map(lambda s: "--" + s), S2)}),
    "unknown command": command("{x} list", {"x": (bad.identifier_not_in(frozenset(COMMANDS)), S2)}),
}
# fmt: on


def command_lines() -> st.SearchStrategy[BadLine]:
    return with_globals(st.one_of(*WRITES.values(), *READS.values()))


def data_lines() -> st.SearchStrategy[BadLine]:
    """``case fire REF decline --reason R --data ...``: valid pairs, and at least one bad one."""
    key = st.from_regex(r"\A[A-Za-z0-9_.-]{0,20}\Z").map(lambda k: "ok_" + k)  # never the bad pair's key
    good = st.tuples(key, bad.plain).map(lambda kv: f"{kv[0]}={kv[1]}")
    usage = st.one_of(bad.plain.filter(lambda s: "=" not in s), bad.blank().map(lambda s: s + "=v"))  # exit 2
    bad_key = (
        st.one_of(
            st.from_regex(r"\A[0-9.-][A-Za-z0-9_]{0,10}\Z"),
            st.sampled_from(bad.SQL),
            bad.with_control(),
            bad.huge(65, 300).map(lambda s: s.replace(" ", "_")),
            st.sampled_from(["å", "nyckel med mellanslag", "a/b"]),
        )
        .filter(lambda k: "=" not in k and k.strip())
        .map(lambda k: f"{k}=v")
    )
    bad_value = st.one_of(bad.with_control(), bad.not_utf8(), bad.huge(2002)).map(lambda v: f"k={v}")
    too_many = st.just([f"k{i}=v" for i in range(51)])

    def build(pairs: list[str]) -> BadLine:
        args = (
            "--actor",
            "anna",
            "case",
            "fire",
            REF,
            "decline",
            "--reason",
            "Ingen budget",
            *(a for p in pairs for a in ("--data", p)),
        )
        if not all(bad.is_text(p) for p in pairs):
            return BadLine(args, S6)
        usage_error = any("=" not in p or not p.partition("=")[0].strip() for p in pairs)
        return BadLine(args, S2 if usage_error else S6)

    one_bad = st.one_of(usage, bad_key, bad_value).map(lambda p: [p])
    mixed = st.tuples(st.lists(good, max_size=5), st.one_of(one_bad, too_many), st.lists(good, max_size=5)).map(
        lambda t: [*t[0], *t[1], *t[2]]
    )
    return with_globals(mixed.map(build))


def json_line(**fields: object) -> str:
    return json.dumps(fields, ensure_ascii=True)


# -- batch files (case fire --from-file) ---------------------------------------------------
@dataclass(frozen=True)
class BadFile:
    content: bytes
    status: int
    fired: int  # lines the command reports on; 0 when the whole file is refused


BASE = {"ref": REF, "trigger": "decline", "reason": "Ingen budget"}  # would succeed
_NO_SURROGATE = st.one_of(bad.with_control(), bad.huge(), bad.blank().filter(bool))
_WRONG = {
    str: st.one_of(st.integers(), st.floats(allow_nan=False), st.booleans(), st.lists(st.integers(), max_size=2)),
    int: st.one_of(st.text(max_size=5), st.floats(allow_nan=False), st.booleans(), st.just([1])),
    dict: st.one_of(st.text(max_size=5), st.integers(), st.booleans(), st.just(["k", "v"])),
}
_TYPES = {"ref": str, "trigger": str, "reason": str, "end_reason": str, "actor": str, "if_version": int, "data": dict}


def failing_line() -> st.SearchStrategy[tuple[str, int]]:
    """A well-formed line that fails on its own, and its status."""
    bad_data = st.one_of(
        st.tuples(st.sampled_from(["1k", "a b", "å", "x" * 65]), bad.plain),
        st.tuples(st.just("k"), st.one_of(bad.with_control(), bad.huge(2002))),
    ).map(lambda kv: {kv[0]: kv[1]})
    cases: list[tuple[st.SearchStrategy[dict[str, object]], int]] = [
        (bad.unknown_ref().filter(bad.is_text).map(lambda r: {**BASE, "ref": r}), 4),
        (bad.bad_choice(TRIGGERS).filter(bool).filter(bad.is_text).map(lambda t: {**BASE, "trigger": t}), 2),
        (st.sampled_from(BLOCKED).map(lambda t: {**BASE, "trigger": t}), 3),
        (st.one_of(_NO_SURROGATE, st.just("")).map(lambda r: {**BASE, "reason": r}), 6),
        (st.integers(min_value=1).filter(lambda v: v != VERSION).map(lambda v: {**BASE, "if_version": v}), 5),
        (bad_data.map(lambda d: {**BASE, "data": d}), 6),
        (_NO_SURROGATE.map(lambda a: {**BASE, "actor": a}), 6),
        (st.sampled_from(sorted(END_REASONS - {"declined"})).map(lambda e: {**BASE, "end_reason": e}), 6),
    ]
    return st.one_of(*(lines.map(_with_status(status)) for lines, status in cases))


def _with_status(status: int) -> Callable[[dict[str, object]], tuple[str, int]]:
    return lambda item: (json_line(**item), status)


def malformed_line() -> st.SearchStrategy[str]:
    """A line that makes the whole file malformed (exit 6 before anything fires)."""
    wrong = st.sampled_from(sorted(_TYPES)).flatmap(
        lambda k: _WRONG[_TYPES[k]].map(lambda v: json_line(**{**BASE, k: v}))
    )
    return st.one_of(
        st.sampled_from(["{", "ref=IOP", "{'ref': 1}", "[1,", '{"ref": NaN}', "Infinity", '{"ref": "x",}', "// c"]),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=5), lambda c: st.lists(c, max_size=3)
        ).map(json.dumps),
        bad.identifier_not_in(frozenset(_TYPES)).map(lambda k: json_line(**{**BASE, k: 1})),
        wrong,
        st.sampled_from(["ref", "trigger"])
        .flatmap(lambda k: st.sampled_from([{**BASE, k: ""}, {x: v for x, v in BASE.items() if x != k}]))
        .map(lambda d: json_line(**d)),
        bad.not_utf8().map(lambda s: json_line(**{**BASE, "reason": s})),  # a "\\udcxx" escape
        st.integers(1_000, 50_000).map(
            lambda n: '{"ref": "x", "trigger": "decline", "data": ' + "[" * n + "]" * n + "}"
        ),
    )


def batch_files() -> st.SearchStrategy[BadFile]:
    def refused_whole(parts: tuple[list[str], str, list[str]]) -> BadFile:
        return BadFile("\n".join([*parts[0], parts[1], *parts[2]]).encode("utf-8"), 6, 0)

    def each_fails(lines: list[tuple[str, int]]) -> BadFile:
        statuses = {s for _, s in lines}
        status = next(s for s in PRIORITY if s in statuses)
        return BadFile("\n".join(text for text, _ in lines).encode("utf-8"), status, len(lines))

    valid = st.lists(st.just(json_line(**BASE)), max_size=3)
    not_utf8 = st.tuples(
        st.binary(min_size=1, max_size=8), st.sampled_from([b"\xff", b"\xe5", b"\xc0\x80", b"\xed\xa0\x80"])
    )
    return st.one_of(
        st.tuples(valid, malformed_line(), valid).map(refused_whole),
        st.lists(failing_line(), min_size=1, max_size=4).map(each_fails),
        not_utf8.map(lambda t: BadFile(json_line(**BASE).encode() + b"\n" + t[0] + t[1], 6, 0)),
        bad.blank().map(lambda s: BadFile(s.encode("utf-8"), 6, 0)),
    )

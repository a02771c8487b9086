"""Generated broken files for the three loaders, through the CLI: the workflow definition
(``iop workflow diagram --definition FILE``), guidelines (``iop guideline load FILE``) and
settings (``iop --config FILE ...`` and ``IOP_*`` variables).

Each broken file is refused with exit 6 and a message that names the file and the
key (``FILE: KEY: problem``, or ``environment: IOP_X: problem``); no traceback, no
internal error, and the database and audit stream unchanged. The generated
mutations are described in tests/fuzz_toml.py.

``IOP_FUZZ_EXAMPLES=1000 python -m pytest tests/test_fuzz_loaders.py`` runs the full
size (at least 1,000 files per loader); CI runs a smaller, fixed sample.
"""

from __future__ import annotations

import json
import re
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests import fuzz_strategies as bad
from tests import fuzz_toml as toml
from tests.cli_helpers import today
from tests.fuzz_support import Target, build_template, fuzz_settings, target

ROOT = Path(__file__).resolve().parents[1]
DEFINITION = (ROOT / "states/partnership.toml").read_text(encoding="utf-8")
GUIDELINES = {p.name: p.read_text(encoding="utf-8") for p in sorted((ROOT / "config/guidelines").glob("*.toml"))}
CONFIG = (ROOT / "config/iop.toml").read_text(encoding="utf-8")
DEF_DATA, CONFIG_DATA = tomllib.loads(DEFINITION), tomllib.loads(CONFIG)
WRITE = [
    "--actor",
    "anna",
    "case",
    "fire",
    f"IOP-{today().year}-0001",
    "decline",
    "--reason",
    "Ingen budget",
]  # would succeed
NAMES = bad.identifier_not_in(frozenset()).map(lambda s: "zz_" + s)  # never a known state, guard, role, ...


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory) -> Target:
    template = build_template(tmp_path_factory.mktemp("template"))
    return target(template, tmp_path_factory.mktemp("loaders"))


def _common(text: str, data: toml.Data) -> list[st.SearchStrategy[str | bytes]]:
    """Mutations every loader must refuse: syntax, encoding, nesting, unknown keys, wrong types."""
    return [
        toml.syntax(text),
        toml.not_utf8(text),
        toml.deep(text),
        toml.unknown_key(data).map(toml.dumps),
        toml.wrong_type(data).map(toml.dumps),
    ]


def _definition_required(path: toml.Path_) -> bool:
    shapes = {
        ("workflow",),
        ("states",),
        ("transitions",),
        ("workflow", "name"),
        ("states", "*", "label_sv"),
        ("states", "*", "label_en"),
        ("states", "*", "timers", "#", "kind"),
        ("states", "*", "timers", "#", "anchor"),
        ("states", "*", "timers", "#", "action"),
        ("transitions", "#", "trigger"),
        ("transitions", "#", "source"),
        ("transitions", "#", "dest"),
        ("transitions", "#", "roles"),
    }
    return _shape(path) in shapes


def _shape(path: toml.Path_) -> tuple[str, ...]:
    """A path with list indices as ``#`` and state names as ``*``."""
    return tuple(
        "#" if isinstance(k, int) else "*" if i == 1 and path[0] == "states" else k for i, k in enumerate(path)
    )


def definitions() -> st.SearchStrategy[str | bytes]:
    names = [
        p for p, v in toml.nodes(DEF_DATA) if isinstance(v, str) and _shape(p)[-1:] in {("#",), ("dest",), ("anchor",)}
    ]
    nonterminal = [s for s, spec in DEF_DATA["states"].items() if not spec.get("terminal")]
    return st.one_of(
        *_common(DEFINITION, DEF_DATA),
        toml.missing(DEF_DATA, _definition_required).map(toml.dumps),
        st.tuples(st.sampled_from(names), NAMES).map(lambda t: toml.dumps(toml.replaced(DEF_DATA, t[0], t[1]))),
        st.sampled_from(nonterminal).map(
            lambda s: toml.dumps(toml.replaced(DEF_DATA, ("states", s, "terminal"), True))
        ),
        st.sampled_from(["Initiative", "two words", "1st", ""]).map(
            lambda v: toml.dumps({**DEF_DATA, "states": {**DEF_DATA["states"], v: DEF_DATA["states"]["initiative"]}})
        ),
    )


def guidelines() -> st.SearchStrategy[tuple[str, str | bytes]]:
    def mutations(name: str) -> st.SearchStrategy[str | bytes]:
        text, data = GUIDELINES[name], tomllib.loads(GUIDELINES[name])
        head, criteria = data["guideline"], data["criteria"]
        texts: list[toml.Path_] = [
            ("guideline", k)
            for k in ("ref", "municipality", "title", "decided_by", "owner", "source", "note")
            if k in head  # a fact the source does not give is left out of the file (docs/guidelines.md)
        ]
        texts += [("criteria", i, k) for i in range(len(criteria)) for k in ("code", "text_sv", "text_en")]
        required = {
            ("guideline",),
            ("criteria",),
            *(("guideline", k) for k in ("ref", "municipality", "title", "status", "owner")),
        }
        dated: list[st.SearchStrategy[str | bytes]] = []
        if "valid_from" in head:  # the date-order mutations need the start the file gives
            dated = [
                st.integers(1, 10_000).map(
                    lambda d: put(("guideline", "valid_until"), head["valid_from"] - timedelta(days=d))
                ),
                bad.impossible_date().map(lambda d: re.sub(r"(?m)^valid_from = \S+", f"valid_from = {d}", text)),
            ]
            if "decided_on" in head:
                dated.append(
                    st.integers(1, 10_000).map(
                        lambda d: put(("guideline", "decided_on"), head["valid_from"] + timedelta(days=d))
                    )
                )

        def put(path: toml.Path_, value: Any) -> str:
            return toml.dumps(toml.replaced(data, path, value))

        return st.one_of(
            *_common(text, data),
            toml.missing(
                data,
                lambda p: p in required or _shape(p) in {("criteria", "#", k) for k in ("code", "kind", "text_sv")},
            ).map(toml.dumps),
            st.tuples(st.sampled_from(texts), st.one_of(toml.nasty_text(), bad.blank()))
            .filter(lambda t: t[0][-1] not in {"source", "note", "text_en"} or t[1].strip())
            .map(lambda t: put(*t)),
            st.tuples(
                st.sampled_from(["valid_from", "decided_on", "valid_until"]),
                st.one_of(bad.bad_date(), st.dates().map(str)),
            )
            .filter(lambda t: bad.is_text(t[1]))
            .map(lambda t: put(("guideline", t[0]), t[1])),
            *dated,
            st.one_of(st.integers(max_value=0), st.integers(61, 2**63 - 1)).map(
                lambda m: put(("guideline", "follow_up_months"), m)
            ),
            st.just(put(("criteria",), [])),
            st.just(put(("criteria", 1, "code"), criteria[0]["code"])),
            st.sampled_from(["Kod", "two words", "1abc", "a-b", "", "ÅÄÖ"]).map(
                lambda c: put(("criteria", 0, "code"), c)
            ),
            bad.bad_choice(frozenset({"eligibility", "required", "consideration"}))
            .filter(bad.is_text)
            .map(lambda k: put(("criteria", 0, "kind"), k)),
        )

    return st.sampled_from(sorted(GUIDELINES)).flatmap(lambda n: st.tuples(st.just(n), mutations(n)))


def _not_a_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ValueError, OSError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        return True
    return False


def configs() -> st.SearchStrategy[str | bytes]:
    def put(path: toml.Path_, value: Any) -> str:
        return toml.dumps(toml.replaced(CONFIG_DATA, path, value))

    whole = [("iop", "min_agreement_months"), *(("lead_times", k) for k in CONFIG_DATA["lead_times"])]
    strings = [("iop", k) for k, v in CONFIG_DATA["iop"].items() if isinstance(v, str)]
    patterns = st.sampled_from(
        [
            "IOP",
            "{seq}",
            "{year}",
            "{year}-{seq:041d}",
            "{id}-{seq}",
            "{year.real}{seq}",
            "{",
            "}{seq}{year}",
            "{seq:>99}{year}",
            "{0}{1}",
        ]
    )
    return st.one_of(
        *_common(CONFIG, CONFIG_DATA),
        st.tuples(st.sampled_from(whole), st.one_of(st.integers(max_value=-1), st.integers(36_501, 2**63 - 1))).map(
            lambda t: put(*t)
        ),
        st.tuples(st.sampled_from(strings), bad.with_control()).map(lambda t: put(*t)),
        bad.bad_choice(frozenset({"sv", "en"})).filter(bad.is_text).map(lambda v: put(("iop", "lang"), v)),
        bad.plain.filter(_not_a_zone).map(lambda v: put(("iop", "timezone"), v)),
        patterns.map(lambda v: put(("iop", "case_ref_pattern"), v)),
        NAMES.map(lambda r: put(("roles", "default_roles"), ["officer", r])),
        NAMES.map(lambda r: put(("roles", "actors"), {"anna": [r]})),
    )


def environments() -> st.SearchStrategy[dict[str, str]]:
    ints = ["IOP_MIN_AGREEMENT_MONTHS", *(f"IOP_LEAD_TIMES_{k.upper()}" for k in CONFIG_DATA["lead_times"])]
    bad_int = st.one_of(bad.bad_whole(0, 36_500), st.sampled_from(["", " ", "1.0", "twelve"]))
    return st.one_of(
        st.tuples(st.sampled_from(ints), bad_int).map(lambda t: {t[0]: t[1]}),
        bad.bad_choice(frozenset({"sv", "en"})).map(lambda v: {"IOP_LANG": v}),
        bad.plain.filter(_not_a_zone).map(lambda v: {"IOP_TIMEZONE": v}),
        st.sampled_from(["", "many", "-1", "1.5"]).map(
            lambda v: {"IOP_SERVER_PORT": v}
        ),  # IOP_ROLES_* is not read any more
        st.sampled_from(["IOP", "{seq}", "{x}{seq}{year}"]).map(lambda v: {"IOP_CASE_REF_PATTERN": v}),
        st.tuples(
            st.sampled_from(["IOP_DATABASE_URL", "IOP_AUDIT_LOG", "IOP_TIMEZONE", "IOP_LANG"]),
            st.one_of(bad.with_control(), bad.not_utf8()),
        ).map(lambda t: {t[0]: t[1]}),
    ).filter(lambda env: all("\x00" not in v for v in env.values()))  # os.environ cannot hold NUL


def _refused_naming(
    fuzz: Target, args: list[str], where: str, as_json: bool, env: dict[str, str] | None = None
) -> None:
    """Exit 6, and the message names ``where`` (a file or "environment") and a key."""
    result = fuzz.refused(["--json", *args] if as_json else args, frozenset({6}), env=env)
    if as_json:
        error = json.loads(result.out)["error"]
        assert (error["code"], error["details"]["file"]) == ("invalid_definition", where), error
        assert error["details"]["key"] and error["details"]["problem"], error
    else:
        assert result.err.startswith(f"{where}: "), result.err
        assert re.match(rf"{re.escape(where)}: [^:\n]+: \S", result.err), result.err


def _write(fuzz: Target, name: str, content: str | bytes) -> Path:
    path = fuzz.cli.tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


@pytest.mark.slow
@fuzz_settings(ci_default=250)
@given(content=definitions(), as_json=st.booleans())
def test_broken_workflow_definitions_are_refused(content: str | bytes, as_json: bool, fuzz: Target) -> None:
    path = _write(fuzz, "partnership.toml", content)
    _refused_naming(fuzz, ["workflow", "diagram", "--definition", str(path)], str(path), as_json)


@pytest.mark.slow
@fuzz_settings(ci_default=250)
@given(mutated=guidelines(), as_json=st.booleans())
def test_broken_guideline_files_are_refused_and_load_nothing(
    mutated: tuple[str, str | bytes], as_json: bool, fuzz: Target
) -> None:
    path = _write(fuzz, mutated[0], mutated[1])
    _refused_naming(fuzz, ["guideline", "load", str(path)], str(path), as_json)


@fuzz_settings(ci_default=250)
@given(content=configs(), as_json=st.booleans())
def test_broken_config_files_are_refused_before_anything_is_written(
    content: str | bytes, as_json: bool, fuzz: Target
) -> None:
    path = _write(fuzz, "iop.toml", content)
    _refused_naming(fuzz, ["--config", str(path), *WRITE], str(path), as_json)


@fuzz_settings(ci_default=100)
@given(env=environments(), as_json=st.booleans())
def test_broken_environment_settings_are_refused(env: dict[str, str], as_json: bool, fuzz: Target) -> None:
    _refused_naming(fuzz, WRITE, "environment", as_json, env=env)


# -- the bugs the fuzzing found: each file, its status and its message, for good -------------
STENUNGSUND = GUIDELINES["stenungsund.toml"]
ROLES = '[roles.actors]\nsystem = ["system"]\n'
FOUND: dict[str, tuple[str, str, list[str], str]] = {
    # name: (file name, content, command after FILE is filled in, message after "FILE: ")
    # Deep nesting: RecursionError in tomllib, exit 1, for all three loaders.
    "config-deep": (
        "iop.toml",
        "a = " + "[" * 50_000,
        ["--config", "{file}", "case", "list"],
        "(syntax): not valid TOML: nested too deeply",
    ),
    "guideline-deep": (
        "g.toml",
        "a = " + "{a=" * 10_000,
        ["guideline", "load", "{file}"],
        "(syntax): not valid TOML: nested too deeply",
    ),
    "definition-deep": (
        "d.toml",
        "a = " + "[" * 50_000,
        ["workflow", "diagram", "--definition", "{file}"],
        "(syntax): not valid TOML: nested too deeply",
    ),
    # A lead time of 2**63-1 days: OverflowError in `scheduler plan`, exit 1.
    "config-huge-lead-time": (
        "iop.toml",
        "[lead_times]\nguideline_warning_days = 9223372036854775807\n",
        ["--config", "{file}", "scheduler", "plan"],
        "lead_times.guideline_warning_days: must be at most 36500 (9223372036854775807)",
    ),
    # A pattern without {seq}: the second case hit the unique ref, IntegrityError, exit 1.
    "config-ref-repeats": (
        "iop.toml",
        '[iop]\ncase_ref_pattern = "IOP"\n' + ROLES,
        ["--config", "{file}", *WRITE],
        "iop.case_ref_pattern: must contain {year} and {seq}: refs would repeat",
    ),
    # A 100,000-character ref per case (the column holds 40).
    "config-ref-width": (
        "iop.toml",
        '[iop]\ncase_ref_pattern = "{year}-{seq:>100000}"\n',
        ["--config", "{file}", "case", "list"],
        "iop.case_ref_pattern: needs only {year} and {seq}: width '>100000' is over 40",
    ),
    # A NUL in the audit path: ValueError after the commit, exit 1 for a change that was made.
    "config-nul-path": (
        "iop.toml",
        '[iop]\naudit_log = "a\\u0000b"\n',
        ["--config", "{file}", *WRITE],
        "iop.audit_log: contains control characters or invalid UTF-8: 'a\\x00b'",
    ),
    # Texts longer than the columns (PostgreSQL refused them, exit 1) or with control characters.
    "guideline-long-title": (
        "g.toml",
        STENUNGSUND.replace('title = "', 'title = "' + "T" * 500, 1),
        ["guideline", "load", "{file}"],
        "guideline.title: is 540 characters long; at most 500 are allowed",
    ),
    "guideline-escape": (
        "g.toml",
        STENUNGSUND.replace('title = "', 'title = "\\u001b[2J', 1),
        ["guideline", "load", "{file}"],
        "guideline.title: contains control characters",
    ),
    # A table as a criterion's kind: TypeError (unhashable) in the membership test, exit 1.
    "guideline-kind-table": (
        "g.toml",
        STENUNGSUND.replace('kind = "eligibility"', "kind = {}", 1),
        ["guideline", "load", "{file}"],
        "criteria[0].kind: unknown kind {} (eligibility, required, consideration)",
    ),
    # Optional texts of another type were turned into text with str().
    "guideline-source-type": (
        "g.toml",
        STENUNGSUND.replace('source = "seeds/001_227cfc233ae06c05.txt"', "source = 5"),
        ["guideline", "load", "{file}"],
        "guideline.source: must be a string",
    ),
    "definition-title-type": (
        "d.toml",
        DEFINITION.replace('title_sv = "Idéburet offentligt partnerskap"', "title_sv = 2026-01-01"),
        ["workflow", "diagram", "--definition", "{file}"],
        "workflow.title_sv: must be a string",
    ),
}


@pytest.mark.parametrize("name", sorted(FOUND))
def test_found_broken_files_stay_refused(name: str, fuzz: Target) -> None:
    file_name, content, command, message = FOUND[name]
    path = _write(fuzz, file_name, content)
    result = fuzz.refused([word.replace("{file}", str(path)) for word in command], frozenset({6}))
    assert result.err == f"{path}: {message}\n"


def test_an_environment_value_is_named_as_the_environment(fuzz: Target) -> None:
    """IOP_LANG=xx was reported as iop.lang of the config file, which said nothing of the kind."""
    result = fuzz.refused(["case", "list"], frozenset({6}), env={"IOP_LANG": "xx", "IOP_TIMEZONE": "Europe/Stockholm"})
    assert result.err == "environment: IOP_LANG: must be sv or en, not 'xx'\n"


def test_an_audit_directory_that_cannot_be_made_does_not_turn_a_done_change_into_a_bug(fuzz: Target) -> None:
    """The change commits, the audit line is skipped with one warning (``audit export --resync`` mends the
    stream): exit 0, not 1."""
    path = _write(fuzz, "iop.toml", '[iop]\naudit_log = "/proc/self/no/such/dir/audit.jsonl"\n')
    result = fuzz.cli("--config", str(path), *WRITE)
    assert result.status == 0, result.text
    assert result.err.startswith("Varning: granskningsströmmen /proc/self/no/such/dir/audit.jsonl kunde inte skrivas")
    assert result.err.count("\n") == 1 and "iop audit export --resync" in result.err
    assert "-> Avslutat" in result.out
    assert not fuzz.guard.unchanged()  # it did write (the guard restores the copy)
    assert not (fuzz.cli.data_dir / "cli-errors.log").exists()

"""Hand-chosen mutants of the code that keeps the audit trail and the races honest (docs/mutation.md).

    python tests/mutation/run_mutants.py            # every mutant, SQLite tests ("not slow")
    python tests/mutation/run_mutants.py --only cases-01 timers-03
    python tests/mutation/run_mutants.py --list     # the mutants, not run
    python tests/mutation/run_mutants.py --slow     # the PostgreSQL halves and real processes too
    python tests/mutation/run_mutants.py --only audit-04 --tests test_pins   # which module kills it

The repository's files (tracked and new, as git lists them) are copied once to a temporary
directory; each mutant replaces one exact piece of text in one file of that copy, runs its
test modules there with ``-x -q`` (the copy comes first on ``PYTHONPATH``, also for the
``iop`` processes the tests start), and puts the file back. A mutant is *killed* when the
tests fail, *survived* when they pass; a mutant whose text is not found exactly once stops
the run before anything is mutated. The file is not named ``test_*``: pytest does not
collect it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

AUDIT = ("test_pins", "test_audit_verify", "test_audit_export", "test_audit_protected")
CASES = ("test_pins", "test_write_path", "test_races", "test_service", "test_audit_verify", "test_sweep")
TIMERS = ("test_pins", "test_sweep", "test_timer_proof", "test_service")
GUARDS = ("test_pins", "test_guards", "test_four_eyes", "test_legality", "test_service")
SWEEP = ("test_pins", "test_sweep")


@dataclass(frozen=True, slots=True, kw_only=True)
class Mutant:
    id: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]
    what: str


CHAIN = "iop_workflow/audit/chain.py"
CHECKPOINT = "iop_workflow/audit/checkpoint.py"
VERIFY = "iop_workflow/audit/verify.py"
LEDGER = "iop_workflow/audit/ledger.py"
MASKING = "iop_workflow/audit/masking.py"
EXPORT = "iop_workflow/audit/export.py"
STORE = "iop_workflow/store/cases.py"
TIMER_STORE = "iop_workflow/store/timers.py"
GUARD = "iop_workflow/domain/guards.py"
GUARD_AGREEMENT = "iop_workflow/domain/guards_agreement.py"
GUIDELINES = "iop_workflow/domain/guidelines.py"
SWEEPS = "iop_workflow/service/sweep_guidelines.py"

# One mutant a line: id, file, the exact text replaced (found once), its replacement, the test
# modules run, what the mutant breaks.
# fmt: off
_TABLE: tuple[tuple[str, str, str, str, tuple[str, ...], str], ...] = (
    # --- audit/: the canonical JSON, the hashes, verification ----------------------------------
    ("audit-01", CHAIN, "sort_keys=True, separators", "sort_keys=False, separators", AUDIT, "canonical JSON: keys unsorted"),
    ("audit-02", CHAIN, 'separators=(",", ":")', 'separators=(", ", ": ")', AUDIT, "canonical JSON: spaced separators"),
    ("audit-03", CHAIN, "ensure_ascii=False, default=str)", "ensure_ascii=True, default=str)", AUDIT, "canonical JSON: \\u escapes"),
    ("audit-04", CHAIN, "ensure_ascii=False, default=str)", "ensure_ascii=False, default=repr)", AUDIT, "canonical JSON: Decimal/date as repr"),
    ("audit-05", CHAIN, 'GENESIS = "0" * 64', 'GENESIS = "0" * 63 + "1"', AUDIT, "another genesis hash"),
    ("audit-06", CHAIN, "if self.format >= FORMAT_AUTH:", "if self.format > FORMAT_AUTH:", AUDIT, "format 2 no longer hashes auth"),
    ("audit-07", CHAIN, '            out["format"] = self.format\n', "", AUDIT, "format not hashed"),
    ("audit-08", CHAIN, '    "case_ref",\n    "case_seq",\n    "at",', '    "case_ref",\n    "at",', AUDIT, "case_seq outside the hash"),
    ("audit-09", CHAIN, 'canonical_json(content).encode("utf-8")', 'canonical_json(content).encode("utf-16")', AUDIT, "hash over UTF-16"),
    ("audit-10", CHAIN, 'format=row["record_format"],', "format=FORMAT_AUTH,", AUDIT, "stored format ignored on read"),
    ("audit-11", CHECKPOINT, '"prev_digest": self.prev_digest,\n        }', "}", AUDIT, "checkpoint: prev_digest not hashed"),
    ("audit-12", CHECKPOINT, '"heads": [list(h) for h in self.heads]', '"heads": [list(h)[:2] for h in self.heads]', AUDIT, "checkpoint: head hashes not hashed"),
    ("audit-13", VERIFY, "expected_seq = 1 if prev is None", "expected_seq = 0 if prev is None", AUDIT, "chains start at case_seq 0"),
    ("audit-14", VERIFY, "if rec.case_seq != expected_seq:", "if False:", AUDIT, "case_seq gap not checked"),
    ("audit-15", VERIFY, "if rec.prev_hash != expected_prev:", "if False:", AUDIT, "prev_hash link not checked"),
    ("audit-16", VERIFY, "if prev is not None and prev.to_state != rec.from_state:", "if False:", AUDIT, "from_state continuity not checked"),
    ("audit-17", VERIFY, "if rec.compute_hash() != rec.hash:", "if False:", AUDIT, "content hash not recomputed"),
    ("audit-18", VERIFY, "rec.seq <= prev.seq:", "rec.seq < prev.seq:", AUDIT, "seq order: equal allowed"),
    ("audit-19", VERIFY, "if problem and rec.case_ref not in broken:", "if problem:", AUDIT, "every bad record, not the first"),
    ("audit-20", VERIFY, "if not broken and last.to_state != state:", "if False:", AUDIT, "stored state vs last record not checked"),
    ("audit-21", VERIFY, "        elif not ref.startswith(NON_CASE_PREFIX):  # the administration", "        elif True:  # the administration", AUDIT, "@admin chain reported as an unknown case"),
    ("audit-22", LEDGER, "if cp.compute_digest() != cp.digest:", "if False:", AUDIT, "checkpoint digest not recomputed"),
    ("audit-23", LEDGER, "elif cp.prev_digest != expected_prev:", "elif False:", AUDIT, "checkpoint link not checked"),
    ("audit-24", LEDGER, "(now[0] > n or now == (n, h))", "(now[0] >= n or now == (n, h))", AUDIT, "same-length chain, other head, not flagged"),
    ("audit-25", LEDGER, "if claim.case_seq == rec.case_seq and claim.hash != rec.hash:", "if False:", AUDIT, "head differing from a checkpoint not flagged"),
    ("audit-26", LEDGER, "rec.seq <= self._max_seqs[first - 1]", "rec.seq < self._max_seqs[first - 1]", AUDIT, "record behind a checkpoint: boundary"),
    ("audit-27", LEDGER, "last >= claims[-1].case_seq", "last > claims[-1].case_seq", AUDIT, "full-length chain reported as shortened"),
    ("audit-28", LEDGER, "        if digest not in self.digests:", "        if False:", AUDIT, "unknown digest accepted"),
    ("audit-29", MASKING, 'if key in PROTECTED_FIELDS and item not in (None, ""):', "if key in PROTECTED_FIELDS:", AUDIT, "empty protected fields masked (masked: true)"),
    ("audit-30", MASKING, "if secret and secret in text:", "if secret in text:", AUDIT, "empty secret masks between every character"),
    ("audit-31", MASKING, "if not (hit_data or hit_reason):", "if not hit_data:", AUDIT, "a secret in the reason alone is left"),
    ("audit-32", EXPORT, "return json.dumps(stream_dict(record), sort_keys=True, ensure_ascii=False)", "return json.dumps(stream_dict(record), sort_keys=True)", AUDIT, "export lines escape non-ASCII"),
    # --- store/cases.py: the version check, the chain head, the log row ---------------------------
    ("cases-01", STORE, ", CASES.c.version == sa.bindparam(\"w_version\"))", ")", CASES, "UPDATE without the version check"),
    ("cases-02", STORE, "if result.rowcount != 1:", "if result.rowcount > 1:", CASES, "a lost race is not raised"),
    ("cases-03", STORE, '"version": int(case["version"]) + 1', '"version": int(case["version"]) + 2', CASES, "version bumps by two"),
    ("cases-04", STORE, ".order_by(LOG.c.case_seq.desc())", ".order_by(LOG.c.case_seq)", CASES, "chain head is the first record"),
    ("cases-05", STORE, "TIMER_IS_OPEN = sa.and_(TIMERS.c.fired_at.is_(None), TIMERS.c.cancelled_at.is_(None))", "TIMER_IS_OPEN = TIMERS.c.cancelled_at.is_(None)", CASES + TIMERS, "open ignores fired_at"),
    ("cases-06", STORE, "TIMER_IS_OPEN = sa.and_(TIMERS.c.fired_at.is_(None), TIMERS.c.cancelled_at.is_(None))", "TIMER_IS_OPEN = TIMERS.c.fired_at.is_(None)", CASES + TIMERS, "open ignores cancelled_at"),
    ("cases-07", STORE, 'TIMERS.c.case_id == sa.bindparam("w_case_id"), TIMER_IS_OPEN)', 'TIMERS.c.case_id == sa.bindparam("w_case_id"))', CASES + TIMERS, "leaving a state re-cancels closed timers"),
    ("cases-08", STORE, 'values["record_format"] = values.pop("format", 1)', 'values["record_format"] = values.pop("format", 2)', CASES + AUDIT, "a format-1 record stored as format 2"),
    ("cases-09", STORE, "    s.execute(_INSERT_COUNTER, {\"year\": year, \"last\": 1})\n    return 1", "    s.execute(_INSERT_COUNTER, {\"year\": year, \"last\": 1})\n    return 0", CASES, "the year's first case number is 0"),
    ("cases-10", STORE, '.where(TIMERS.c.case_id == sa.bindparam("case_id"), TIMER_IS_OPEN)\n    .order_by(TIMERS.c.due_on, TIMERS.c.id)', '.where(TIMERS.c.case_id == sa.bindparam("case_id"))\n    .order_by(TIMERS.c.due_on, TIMERS.c.id)', CASES, "a case's open timers include closed ones"),
    # --- store/timers.py: due selection and the conditional marks --------------------------------
    ("timers-01", TIMER_STORE, '.where(TIMERS.c.id == sa.bindparam("timer_id"), TIMER_IS_OPEN)\n    .values({column:', '.where(TIMERS.c.id == sa.bindparam("timer_id"))\n    .values({column:', TIMERS, "fired/cancelled mark without 'still open'"),
    ("timers-02", TIMER_STORE, '.where(TIMERS.c.id == sa.bindparam("timer_id"), TIMER_IS_OPEN)\n    .values(outcome=', '.where(TIMERS.c.id == sa.bindparam("timer_id"))\n    .values(outcome=', TIMERS, "a failure note overwrites a closed timer's outcome"),
    ("timers-03", TIMER_STORE, ".where(TIMERS.c.due_on <= today, TIMER_IS_OPEN)", ".where(TIMERS.c.due_on < today, TIMER_IS_OPEN)", TIMERS, "a timer due today waits a day"),
    ("timers-04", TIMER_STORE, 'TIMERS.c.due_on <= sa.bindparam("today"), TIMER_IS_OPEN).limit(1)', 'TIMERS.c.due_on < sa.bindparam("today"), TIMER_IS_OPEN).limit(1)', TIMERS, "any_due misses today's timers"),
    ("timers-05", TIMER_STORE, "return s.execute(statement, {\"timer_id\": timer_id, \"now\": now, \"outcome\": outcome[:200]}).rowcount == 1", "s.execute(statement, {\"timer_id\": timer_id, \"now\": now, \"outcome\": outcome[:200]})\n    return True", TIMERS, "mark always reports success"),
    ("timers-06", TIMER_STORE, 'CLOSE["cancelled_at" if cancelled else "fired_at"]', 'CLOSE["fired_at" if cancelled else "cancelled_at"]', TIMERS, "fired and cancelled swapped"),
    ("timers-07", TIMER_STORE, "query = query.where(TIMERS.c.id.not_in(list(exclude)))", "query = query.where(TIMERS.c.id.in_(list(exclude)))", TIMERS, "claim takes only the excluded timers"),
    ("timers-08", TIMER_STORE, "sa.tuple_(TIMERS.c.due_on, TIMERS.c.id) > sa.tuple_(*after)", "sa.tuple_(TIMERS.c.due_on, TIMERS.c.id) >= sa.tuple_(*after)", TIMERS, "paging repeats a batch's last timer"),
    ("timers-09", TIMER_STORE, ".where(TIMERS.c.due_on <= until, TIMER_IS_OPEN)", ".where(TIMERS.c.due_on < until, TIMER_IS_OPEN)", TIMERS, "upcoming leaves out its last day"),
    ("timers-10", TIMER_STORE, "query = query.with_for_update(skip_locked=True, of=[TIMERS, CASES])", "pass", TIMERS, "no row locks on PostgreSQL (no-op on SQLite)"),
    # --- domain/guards.py -------------------------------------------------------------------------
    ("guards-01", GUARD, "if ctx.roles & set(allowed):", "if ctx.roles | set(allowed):", GUARDS, "any role may fire anything"),
    ("guards-02", GUARD, "if not org.non_profit:", "if org.non_profit:", GUARDS, "profit motive inverted"),
    ("guards-03", GUARD, "if facts.initiated_by is Initiator.ORGANISATION:", "if facts.initiated_by is not Initiator.ORGANISATION:", GUARDS, "initiative inverted"),
    ("guards-04", GUARD, "if any(m.joint_challenge.strip() for m in facts.meetings):", "if any(m.joint_challenge for m in facts.meetings):", GUARDS, "a blank challenge counts"),
    ("guards-05", GUARD, "expired = [g for g in facts.municipal_guidelines if g.valid_until and g.valid_until < ctx.today]", "expired = [g for g in facts.municipal_guidelines if g.valid_until and g.valid_until <= ctx.today]", GUARDS, "message lists a guideline on its last day as expired"),
    ("guards-06", GUARD, "elif found.verdict is not Verdict.MET:", "elif found.verdict is Verdict.MET:", GUARDS, "criterion verdict inverted"),
    ("guards-07", GUARD, "for c in g.gating():", "for c in g.criteria:", GUARDS, "considerations become gates"),
    ("guards-08", GUARD, "if not check.rationale.strip():", "if not check.rationale:", GUARDS, "a blank rationale counts"),
    ("guards-09", GUARD, "if d.decided_on > ctx.today:", "if d.decided_on >= ctx.today:", GUARDS, "a decision of today is 'in the future'"),
    ("guards-10", GUARD_AGREEMENT, "if g.valid_until is not None and on > g.valid_until:", "if g.valid_until is not None and on >= g.valid_until:", GUARDS, "the last day says 'expired' (message code)"),
    ("guards-11", GUARD_AGREEMENT, 'decided = _not_in_force(g, d.decided_on, "beslutet fattades", "the decision was taken on") if d else None', "decided = None", GUARDS, "the decision date is not checked"),
    ("guards-12", GUARD_AGREEMENT, "if a.end_on <= a.start_on:", "if a.end_on < a.start_on:", GUARDS, "a one-day agreement passes the order check"),
    ("guards-13", GUARD_AGREEMENT, "if months < ctx.min_agreement_months:", "if months <= ctx.min_agreement_months:", GUARDS, "the minimum length itself refused"),
    ("guards-14", GUARD_AGREEMENT, "c.party is party and c.amount > 0", "c.party is party and c.amount >= 0", GUARDS, "a zero contribution counts"),
    ("guards-15", GUARD_AGREEMENT, "assessors = {a.assessed_by for a in facts.assessments if a.period == period}", "assessors = {a.assessed_by for a in facts.assessments}", GUARDS, "four eyes looks at every period"),
    ("guards-16", GUARD_AGREEMENT, "if r.period == facts.period and r.round == facts.review_round]", "if r.period == facts.period]", GUARDS, "any round's review counts"),
    ("guards-17", GUARD_AGREEMENT, "if ctx.today >= a.start_on:", "if ctx.today > a.start_on:", GUARDS, "activation waits a day past the start"),
    ("guards-18", GUARD_AGREEMENT, "if a is not None and ctx.today <= a.end_on:", "if a is not None and ctx.today < a.end_on:", GUARDS, "the agreement's last day counts as over"),
    ("guards-19", GUARD_AGREEMENT, "if a is not None and ctx.today > a.end_on:", "if a is not None and ctx.today >= a.end_on:", GUARDS, "the agreement ends on its last day"),
    ("guards-20", GUARD_AGREEMENT, "if ctx.actor not in assessors:", "if ctx.actor in assessors:", GUARDS, "four eyes inverted"),
    # --- beyond the four targets: the guideline's last day, in the domain and the sweep ----------
    ("extra-01", GUIDELINES, "(self.valid_until is None or on <= self.valid_until)", "(self.valid_until is None or on < self.valid_until)", GUARDS, "in_force: the last day excluded"),
    ("extra-02", GUIDELINES, "self.valid_from is None or self.valid_from <= on", "self.valid_from is None or self.valid_from < on", GUARDS, "in_force: the first day excluded"),
    ("extra-03", SWEEPS, "    if today > until:\n        return g[\"expired_flagged_on\"] is None", "    if today >= until:\n        return g[\"expired_flagged_on\"] is None", SWEEP, "the sweep flags expiry on the last day"),
    ("extra-04", SWEEPS, "    if today <= until:\n        draft = drafts.guideline_expiring", "    if today < until:\n        draft = drafts.guideline_expiring", SWEEP, "on the last day the sweep flags instead of warning"),
)
# fmt: on
MUTANTS = tuple(Mutant(id=i, path=p, old=o, new=n, tests=t, what=w) for i, p, o, n, t, w in _TABLE)


def files_to_copy() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [line for line in out.splitlines() if line and (REPO / line).is_file()]


def check(mutants: tuple[Mutant, ...]) -> None:
    for mutant in mutants:
        text = (REPO / mutant.path).read_text(encoding="utf-8")
        found = text.count(mutant.old)
        if found != 1:
            sys.exit(f"{mutant.id}: the text to replace is found {found} times in {mutant.path}")


def run_tests(copy: Path, tests: tuple[str, ...], *, slow: bool, timeout: float) -> tuple[str, float]:
    env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"}
    args = [sys.executable, "-m", "pytest", *(f"tests/{t}.py" for t in tests), "-x", "-q", "-p", "no:cacheprovider"]
    if not slow:
        args += ["-m", "not slow"]
    started = time.perf_counter()
    try:
        done = subprocess.run(args, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return "timeout", time.perf_counter() - started
    seconds = time.perf_counter() - started
    if done.returncode == 0:
        return "survived", seconds
    if done.returncode == 1:
        return "killed", seconds
    return f"error (pytest exit {done.returncode})", seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", metavar="ID", help="run these mutants only")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--slow", action="store_true", help="also the slow tests (PostgreSQL, real processes)")
    parser.add_argument("--tests", nargs="+", metavar="MODULE", help="run these test modules instead (e.g. test_pins)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds one mutant's tests may take")
    opts = parser.parse_args()
    mutants = MUTANTS if not opts.only else tuple(x for x in MUTANTS if x.id in set(opts.only))
    if opts.tests:
        mutants = tuple(replace(x, tests=tuple(opts.tests)) for x in mutants)
    if opts.only and len(mutants) != len(set(opts.only)):
        sys.exit(f"unknown mutant ids: {sorted(set(opts.only) - {x.id for x in mutants})}")
    check(mutants)
    if opts.list:
        for x in mutants:
            print(f"{x.id:10} {x.path}: {x.what}")
        return 0
    with tempfile.TemporaryDirectory(prefix="iop-mutants-") as tmp:
        copy = Path(tmp)
        for name in files_to_copy():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, copy / name)
        baseline_tests = tuple(sorted({t for x in mutants for t in x.tests}))
        outcome, seconds = run_tests(copy, baseline_tests, slow=opts.slow, timeout=opts.timeout)
        print(
            f"baseline (no mutant): {' '.join(baseline_tests)} -> {'passed' if outcome == 'survived' else outcome}"
            f" in {seconds:.0f}s",
            flush=True,
        )
        if outcome != "survived":
            return 2
        counts: dict[str, int] = {}
        survivors = []
        for x in mutants:
            target = copy / x.path
            original = target.read_text(encoding="utf-8")
            target.write_text(original.replace(x.old, x.new, 1), encoding="utf-8")
            try:
                outcome, seconds = run_tests(copy, x.tests, slow=opts.slow, timeout=opts.timeout)
            finally:
                target.write_text(original, encoding="utf-8")
            counts[outcome] = counts.get(outcome, 0) + 1
            if outcome == "survived":
                survivors.append(x)
            print(f"{x.id:10} {outcome:9} {seconds:5.0f}s  {x.path}: {x.what}", flush=True)
    print("total", len(mutants), " ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    for x in survivors:
        print(f"SURVIVED {x.id}: {x.path}: {x.what}")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())

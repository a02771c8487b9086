"""Alerts: who must act on a deadline, and the sentence that says so (pure).

An alert names the case or guideline, the deadline and who should act. The
recipient is an actor name (the case's officer, the guideline's owner) or a
role written ``role:<name>`` when the alert escalates past the officer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from iop_workflow.glossary import label

ESCALATION_ROLE = "coordinator"


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertDraft:
    kind: str
    due_on: date
    recipient: str
    message_sv: str
    message_en: str

    def message(self, lang: str) -> str:
        return self.message_sv if lang == "sv" else self.message_en


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseSubject:
    """What a case alert needs to know about its case."""

    ref: str
    title: str
    officer: str
    state: str


def _role(name: str) -> str:
    return f"role:{name}"


def case_alert(kind: str, case: CaseSubject, due_on: date) -> AlertDraft:
    """The alert a timer with action ``alert:<kind>`` raises for ``case``."""
    day = due_on.isoformat()
    if kind == "case_idle":
        return AlertDraft(
            kind=kind,
            due_on=due_on,
            recipient=case.officer,
            message_sv=f"Ärende {case.ref} ({case.title}) har inte hanterats inom tidsgränsen ({day}) och har "
            f"status {label('state', case.state, 'sv')}: driv ärendet vidare eller avsluta det.",
            message_en=f"Case {case.ref} ({case.title}) has been idle in state {case.state} "
            f"(limit {day}): move it on or close it.",
        )
    if kind == "review_due_soon":
        return AlertDraft(
            kind=kind,
            due_on=due_on,
            recipient=case.officer,
            message_sv=f"Ärende {case.ref} ({case.title}): uppföljningen närmar sig; begär organisationens "
            f"rapport och boka dialogmöte (påminnelse {day}).",
            message_en=f"Case {case.ref} ({case.title}): the follow-up is coming up; ask for the "
            f"organisation's report and book a dialogue meeting (reminder {day}).",
        )
    if kind == "review_overdue":
        return AlertDraft(
            kind=kind,
            due_on=due_on,
            recipient=_role(ESCALATION_ROLE),
            message_sv=f"Ärende {case.ref} ({case.title}): uppföljningen skulle ha avslutats senast {day} och är "
            f"försenad. Eskalerat från handläggaren {case.officer}.",
            message_en=f"Case {case.ref} ({case.title}): the follow-up was due by {day} and is overdue. "
            f"Escalated from the officer {case.officer}.",
        )
    return AlertDraft(
        kind=kind,
        due_on=due_on,
        recipient=case.officer,
        message_sv=f"Ärende {case.ref} ({case.title}): tidsgränsen för {label('alert', kind, 'sv')} har "
        f"passerats ({day}).",
        message_en=f"Case {case.ref} ({case.title}): the deadline {kind} has passed ({day}).",
    )


def timer_refused(case: CaseSubject, trigger: str, due_on: date, reasons_sv: str, reasons_en: str) -> AlertDraft:
    """A due timer whose trigger the guards refused: never a silent pass, a person must act."""
    return AlertDraft(
        kind="timer_refused",
        due_on=due_on,
        recipient=case.officer,
        message_sv=f"Ärende {case.ref} ({case.title}): den automatiska händelsen «{label('trigger', trigger, 'sv')}» "
        f"(förfallodag {d(due_on)}) kunde inte genomföras: {reasons_sv}",
        message_en=f"Case {case.ref} ({case.title}): the scheduled trigger '{trigger}' (due {d(due_on)}) was "
        f"refused: {reasons_en}",
    )


def timer_failed(case: CaseSubject, action: str, due_on: date, error: str) -> AlertDraft:
    """A due timer that failed on an unexpected error: closed (a retry would fail the same way), for a person."""
    return AlertDraft(
        kind="timer_failed",
        due_on=due_on,
        recipient=_role("admin"),
        message_sv=f"Ärende {case.ref} ({case.title}): den automatiska händelsen "
        f"«{label('trigger', action.partition(':')[2] or action, 'sv')}» (förfallodag {d(due_on)}) "
        f"misslyckades av ett internt fel och har stängts; en administratör behöver undersöka: {error}",
        message_en=f"Case {case.ref} ({case.title}): the scheduled '{action}' (due {d(due_on)}) failed on an "
        f"internal error and was closed; an administrator needs to look into it: {error}",
    )


def guideline_expiring(ref: str, municipality: str, owner: str, valid_until: date) -> AlertDraft:
    return AlertDraft(
        kind="guideline_expiring",
        due_on=valid_until,
        recipient=owner,
        message_sv=f"Riktlinjen {ref} ({municipality}) gäller till och med {d(valid_until)}: påbörja "
        "revideringen i tid så att beslut om ny eller förlängd riktlinje kan fattas innan den upphör, "
        "annars kan inga partnerskap tecknas eller förnyas.",
        message_en=f"Guideline {ref} ({municipality}) is valid until {d(valid_until)}: adopt a new or extended "
        f"guideline in time, or no partnership can be signed or renewed.",
    )


def guideline_review_due(ref: str, municipality: str, owner: str, due_on: date) -> AlertDraft:
    """The guideline's own follow-up (Kungälv: yearly), not the agreements' reviews."""
    return AlertDraft(
        kind="guideline_review_due",
        due_on=due_on,
        recipient=owner,
        message_sv=f"Riktlinjen {ref} ({municipality}) ska följas upp {d(due_on)}: pröva om den fortfarande "
        f"stämmer och besluta om en revidering vid behov.",
        message_en=f"Guideline {ref} ({municipality}) is due for its own follow-up on {d(due_on)}: check that it "
        f"still holds and decide on a revision if needed.",
    )


def guideline_expired(ref: str, municipality: str, owner: str, valid_until: date, open_cases: int) -> AlertDraft:
    return AlertDraft(
        kind="guideline_expired",
        due_on=valid_until,
        recipient=owner,
        message_sv=f"Riktlinjen {ref} ({municipality}) gällde till och med {d(valid_until)} och har upphört; "
        f"{open_cases} öppna ärenden är bundna till den.",
        message_en=f"Guideline {ref} ({municipality}) was valid until {d(valid_until)} and has expired; "
        f"{open_cases} open cases are bound to it.",
    )


def case_guideline_expired(case: CaseSubject, guideline_ref: str, valid_until: date) -> AlertDraft:
    return AlertDraft(
        kind="case_guideline_expired",
        due_on=valid_until,
        recipient=case.officer,
        message_sv=f"Ärende {case.ref} ({case.title}) är bundet till riktlinjen {guideline_ref}, som upphörde "
        f"{d(valid_until)}: undertecknande och förnyelse spärras tills en ny riktlinje gäller.",
        message_en=f"Case {case.ref} ({case.title}) is bound to guideline {guideline_ref}, which expired on "
        f"{d(valid_until)}: signing and renewal are blocked until a new guideline is in force.",
    )


STREAM_WRITE_FAILED = "stream_write_failed"


def stream_write_failed(path: str, error: str, seq: int | None, today: date) -> AlertDraft:
    """The audit stream could not be written after a commit: the change stands, the copy lags."""
    record_sv = f" (först post {seq})" if seq is not None else ""
    record_en = f" (first record {seq})" if seq is not None else ""
    return AlertDraft(
        kind=STREAM_WRITE_FAILED,
        due_on=today,
        recipient=_role("admin"),
        message_sv=f"Granskningsströmmen {path} kunde inte skrivas: {error}. Ändringarna är sparade i databasen "
        f"men saknas i strömmen{record_sv}. Åtgärda felet och kör `iop audit export --resync`.",
        message_en=f"The audit stream {path} could not be written: {error}. The changes are in the database but "
        f"missing from the stream{record_en}. Fix the fault and run `iop audit export --resync`.",
    )


def d(day: date) -> str:
    return day.isoformat()

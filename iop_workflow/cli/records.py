"""``iop case record REF KIND ...``: the facts a case needs (one command per kind)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import click

from iop_workflow.cli.context import State, emit_json, pass_state
from iop_workflow.domain.values import ContributionKind, Party, StateAidBasis


@click.group(subcommand_metavar="KIND [OPTIONS]")
@click.argument("ref")
@click.pass_context
def record(ctx: click.Context, ref: str) -> None:
    """Record a fact on REF: meeting, contribution, agreement, decision, review, legal-check."""
    ctx.meta["iop.case_ref"] = ref


def _ref() -> str:
    return str(click.get_current_context().meta["iop.case_ref"])


def _done(state: State, kind: str, logged: Mapping[str, Any]) -> None:
    if state.json:
        emit_json(logged)
        return
    from iop_workflow.glossary import label  # noqa: PLC0415 - the glossary reads its file

    ref = logged["case_ref"]
    click.echo(
        state.say(
            f"{ref}: {label('recorded', kind, 'sv')} (loggpost {logged['case_seq']}).",
            f"{ref}: {kind} recorded (log record {logged['case_seq']}).",
        )
    )


def _required_choice(value: bool | None, flag: str) -> bool:
    if value is None:
        raise click.UsageError(f"say {flag} (there is no default)")
    return value


def _kind(name: str) -> Callable[[Callable[..., None]], click.Command]:
    return record.command(name)


@_kind("meeting")
@click.option("--held-on", required=True, metavar="YYYY-MM-DD")
@click.option("--joint-challenge", required=True, metavar="TEXT", help="The societal challenge, defined together.")
@click.option("--participants", default="", metavar="TEXT")
@click.option("--notes", default="", metavar="TEXT")
@pass_state
def meeting(state: State, /, **fields: Any) -> None:
    """A dialogue meeting (needed before assessment)."""
    _done(state, "meeting", state.iop.record_meeting(_ref(), actor=state.actor, **fields))


@_kind("contribution")
@click.option("--party", required=True, type=click.Choice([p.value for p in Party]))
@click.option("--kind", required=True, type=click.Choice([k.value for k in ContributionKind]))
@click.option("--amount", required=True, metavar="N")
@click.option("--unit", required=True, metavar="UNIT", help="SEK, h, m2, ...")
@click.option("--description", default="", metavar="TEXT")
@pass_state
def contribution(state: State, /, **fields: Any) -> None:
    """What one party brings (both must contribute)."""
    _done(state, "contribution", state.iop.record_contribution(_ref(), actor=state.actor, **fields))


@_kind("agreement")
@click.option("--start-on", required=True, metavar="YYYY-MM-DD", help="The agreement's first day.")
@click.option("--end-on", required=True, metavar="YYYY-MM-DD", help="Its last day.")
@click.option("--notice-months", default="3", show_default=True, metavar="N")
@click.option("--purpose", default="", metavar="TEXT")
@pass_state
def agreement(state: State, /, **fields: Any) -> None:
    """The agreement's terms for the period being prepared."""
    _done(state, "agreement", state.iop.record_agreement(_ref(), actor=state.actor, **fields))


@_kind("decision")
@click.option("--body", required=True, metavar="TEXT", help="The deciding body, e.g. Socialnämnden.")
@click.option("--decided-on", required=True, metavar="YYYY-MM-DD")
@click.option("--minutes-ref", required=True, metavar="TEXT", help="The minutes paragraph, e.g. 'SN § 12/2026'.")
@click.option("--delegation-ref", metavar="TEXT", help="A delegate's decision: the point of the delegationsordning.")
@click.option(
    "--subject",
    type=click.Choice(["agreement", "ending"]),
    default="agreement",
    show_default=True,
    help="agreement: to enter or renew the partnership; ending: to end the running agreement early.",
)
@pass_state
def decision(state: State, /, **fields: Any) -> None:
    """The political or delegated decision to enter, renew or end the partnership."""
    _done(state, "decision", state.iop.record_decision(_ref(), actor=state.actor, **fields))


@_kind("review")
@click.option("--held-on", required=True, metavar="YYYY-MM-DD")
@click.option("--report-received/--no-report", default=None, help="Whether the organisation's report arrived.")
@click.option("--summary", default="", metavar="TEXT")
@pass_state
def review(state: State, /, *, held_on: str, report_received: bool | None, summary: str) -> None:
    """The follow-up of the running period."""
    received = _required_choice(report_received, "--report-received or --no-report")
    logged = state.iop.record_review(
        _ref(), actor=state.actor, held_on=held_on, report_received=received, summary=summary
    )
    _done(state, "review", logged)


@_kind("legal-check")
@click.option("--competence/--no-competence", default=None, help="The municipality is competent (kommunallagen).")
@click.option("--procurement-not-required/--procurement-required", default=None)
@click.option("--no-competition-distortion/--competition-distortion", default=None)
@click.option("--state-aid-basis", required=True, type=click.Choice([b.value for b in StateAidBasis]))
@click.option("--state-aid-amount-sek", metavar="SEK", help="For de minimis: the aid in SEK.")
@click.option("--rationale", required=True, metavar="TEXT")
@pass_state
def legal_check(
    state: State,
    /,
    *,
    competence: bool | None,
    procurement_not_required: bool | None,
    no_competition_distortion: bool | None,
    state_aid_basis: str,
    state_aid_amount_sek: str | None,
    rationale: str,
) -> None:
    """Competence, procurement, competition and state aid."""
    logged = state.iop.record_legal_check(
        _ref(),
        actor=state.actor,
        competence=_required_choice(competence, "--competence or --no-competence"),
        procurement_not_required=_required_choice(
            procurement_not_required, "--procurement-not-required or --procurement-required"
        ),
        no_competition_distortion=_required_choice(
            no_competition_distortion, "--no-competition-distortion or --competition-distortion"
        ),
        state_aid_basis=state_aid_basis,
        state_aid_amount_sek=state_aid_amount_sek,
        rationale=rationale,
    )
    _done(state, "legal-check", logged)
